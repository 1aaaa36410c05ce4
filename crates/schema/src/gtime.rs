//! GeneralizedTime values (RFC 4517 section 3.3.13): the one parser and formatter of Birch.
//!
//! - [`canonical`] for generalizedTimeMatch and generalizedTimeOrderingMatch (sections 4.2.16
//!   and 4.2.17): UTC with microseconds, `YYYYMMDDHHMMSS.ffffffZ`, fixed width, so that equal
//!   instants written differently (`...131500+0100` and `...121500Z`, `...1215Z`) are equal,
//!   and byte order is time order (which index keys and ordering filters rely on).
//! - [`parse`] and [`format()`] for the times the server keeps (operational attributes,
//!   password policy state): [`format()`] writes `YYYYMMDDHHMMSSZ`, or `YYYYMMDDHHMMSS.ffffffZ`
//!   where several values may fall in one second (pwdFailureTime, pwdGraceUseTime), as
//!   OpenLDAP writes them.
//!
//! Accepted input: `YYYYMMDDHH[MM[SS]][(.|,)fraction](Z|(+|-)hh[mm])`, years 0000-9999; the
//! fraction belongs to the last unit given (hour, minute or second) and is kept to the
//! microsecond; a leap second (`60`) counts as the next second.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The canonical form of a GeneralizedTime, or `None` if the value is not one.
pub fn canonical(value: &str) -> Option<String> {
    instant(value).map(|t| write(t, true))
}

/// The instant a GeneralizedTime names; `None` if the value is not one, or names a time
/// before 1970 (such as ppolicy's "disabled by an administrator" value `000001010000Z`),
/// which a [`SystemTime`] of the server never is.
pub fn parse(value: &str) -> Option<SystemTime> {
    let since_epoch = instant(value)? - OffsetDateTime::UNIX_EPOCH;
    Some(UNIX_EPOCH + Duration::try_from(since_epoch).ok()?)
}

/// Formats a time as `YYYYMMDDHHMMSSZ`, or `YYYYMMDDHHMMSS.ffffffZ` (microseconds) when
/// `fraction` is set; the latter is the [`canonical`] form. Times outside years 0000-9999
/// are written as the nearest instant inside them.
pub fn format(t: SystemTime, fraction: bool) -> String {
    // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z, in microseconds since 1970.
    const FIRST_MICROS: i128 = -62_167_219_200_000_000;
    const LAST_MICROS: i128 = 253_402_300_799_999_999;
    let micros = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_micros()).unwrap_or(LAST_MICROS),
        Err(before) => i128::try_from(before.duration().as_micros()).map_or(FIRST_MICROS, |m| -m),
    };
    let micros = i64::try_from(micros.clamp(FIRST_MICROS, LAST_MICROS)).unwrap_or_default();
    let utc = OffsetDateTime::UNIX_EPOCH
        .checked_add(time::Duration::microseconds(micros))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    write(utc, fraction)
}

/// The current time as `YYYYMMDDHHMMSSZ` (createTimestamp, modifyTimestamp).
pub fn now() -> String {
    format(SystemTime::now(), false)
}

/// Writes a UTC instant of years 0000-9999.
fn write(utc: OffsetDateTime, fraction: bool) -> String {
    let mut out = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    );
    if fraction {
        out.push_str(&format!(".{:06}", utc.microsecond()));
    }
    out.push('Z');
    out
}

/// The UTC instant a GeneralizedTime names, if it is one of years 0000-9999.
fn instant(value: &str) -> Option<OffsetDateTime> {
    let v = value.trim();
    let (body, offset) = split_offset(v)?;
    let (digits, fraction) = match body.find(['.', ',']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    if !matches!(digits.len(), 10 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits.get(r).and_then(|s| s.parse::<u32>().ok());
    let (year, month, day, hour) = (num(0..4)?, num(4..6)?, num(6..8)?, num(8..10)?);
    let minute = if digits.len() >= 12 { num(10..12)? } else { 0 };
    let second = if digits.len() == 14 { num(12..14)? } else { 0 };
    // The fraction belongs to the last unit given (RFC 4517: hour, minute or second).
    let unit_micros: u64 = match digits.len() {
        10 => 3_600_000_000,
        12 => 60_000_000,
        _ => 1_000_000,
    };
    let extra_micros = match fraction {
        None => 0,
        Some(f) if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) => return None,
        Some(f) => {
            let f = &f[..f.len().min(12)];
            let scale = 10u64.pow(f.len() as u32);
            let n: u64 = f.parse().ok()?;
            ((n as u128 * unit_micros as u128) / scale as u128) as u64
        }
    };
    // Leap seconds (60) are accepted by the syntax; count them as the next second.
    let (second, leap) = if second == 60 { (59, 1_000_000) } else { (second, 0) };
    let date = Date::from_calendar_date(
        i32::try_from(year).ok()?,
        Month::try_from(u8::try_from(month).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()?;
    let tod = Time::from_hms(u8::try_from(hour).ok()?, u8::try_from(minute).ok()?, u8::try_from(second).ok()?).ok()?;
    let local = PrimitiveDateTime::new(date, tod).assume_offset(offset);
    // (`checked_to_offset`: `to_offset` panics past the year 9999 of `time`'s range.)
    let utc = local
        .checked_add(time::Duration::microseconds(i64::try_from(extra_micros + leap).ok()?))?
        .checked_to_offset(UtcOffset::UTC)?;
    (0..=9999).contains(&utc.year()).then_some(utc)
}

/// Splits off the `Z` or `±hh[mm]` suffix.
fn split_offset(v: &str) -> Option<(&str, UtcOffset)> {
    if let Some(b) = v.strip_suffix('Z') {
        return Some((b, UtcOffset::UTC));
    }
    let i = v.rfind(['+', '-'])?;
    let (body, off) = v.split_at(i);
    let sign: i8 = if off.starts_with('-') { -1 } else { 1 };
    let d = &off[1..];
    if !matches!(d.len(), 2 | 4) || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i8 = d[..2].parse().ok()?;
    let m: i8 = if d.len() == 4 { d[2..].parse().ok()? } else { 0 };
    if h > 23 || m > 59 {
        return None;
    }
    Some((body, UtcOffset::from_hms(sign * h, sign * m, 0).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// ppolicy's "locked by an administrator" value (pwdAccountLockedTime).
    const DISABLED: &str = "000001010000Z";

    /// 2026-11-23T12:15:00Z.
    fn noon() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_436_100)
    }

    #[test]
    fn equal_instants_are_equal() {
        let z = canonical("20261123121500Z").unwrap();
        assert_eq!(z, "20261123121500.000000Z");
        assert_eq!(canonical("20261123131500+0100").unwrap(), z);
        assert_eq!(canonical("20261123071500-05").unwrap(), z);
        assert_eq!(canonical("202611231215Z").unwrap(), z);
        assert_eq!(canonical("2026112312.25Z").unwrap(), z);
        assert_eq!(canonical("20261123121500,0Z").unwrap(), z);
        for bad in
            ["", "2026", "20261323121500Z", "20261123121500", "20261123121500.Z", "20261123121500+2500", "2026-11-23"]
        {
            assert_eq!(canonical(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_the_forms_slapd_writes() {
        let t = parse("20261123121500Z").unwrap();
        assert_eq!(t, noon());
        assert_eq!(format(t, false), "20261123121500Z");
        assert_eq!(format(t, true), "20261123121500.000000Z");
        assert_eq!(parse("20261123121500.25Z").unwrap(), t + Duration::from_millis(250));
        assert_eq!(parse("20261123121500.123456Z").unwrap(), t + Duration::from_micros(123_456));
        assert_eq!(parse(" 20261123121500Z ").unwrap(), t, "surrounding blanks");
        for bad in [
            "",
            "2026",
            "20261323121500Z",
            "20261123121500",
            "2026112312150xZ",
            "20261123121500.Z9",
            "20261123121500.Z",
            "20261123121500.1a2Z",
            "20261123121500+0160",
            "20261123121500+123",
            "20261130250000Z",
            "20260230121500Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    /// Offsets (`+hhmm`, `-hhmm`, `+hh`) name the same instant as its UTC form.
    #[test]
    fn offsets_are_applied() {
        let t = noon();
        for v in [
            "20261123131500+0100",
            "20261123071500-0500",
            "20261123071500-05",
            "20261124001500+12",
            "20261123121500+0000",
        ] {
            assert_eq!(parse(v), Some(t), "{v}");
        }
        assert_eq!(parse("20261123124500+0030"), Some(t));
        assert_eq!(parse("20261123114500-0030"), Some(t));
        // Across a day, a month and a year boundary.
        assert_eq!(format(parse("20270101003000+0100").unwrap(), false), "20261231233000Z");
    }

    /// A fraction belongs to the last unit given: an hour, a minute or a second.
    #[test]
    fn fractions_of_hours_minutes_and_seconds() {
        let t = noon();
        assert_eq!(parse("2026112312.25Z"), Some(t));
        assert_eq!(parse("2026112312,25Z"), Some(t));
        assert_eq!(parse("202611231214.5Z"), Some(t - Duration::from_secs(30)));
        assert_eq!(parse("20261123121459.5Z"), Some(t - Duration::from_millis(500)));
        // Digits beyond the microsecond are dropped, not rounded.
        assert_eq!(parse("20261123121500.1234567Z"), Some(t + Duration::from_micros(123_456)));
        // A leap second is the next second.
        assert_eq!(parse("20261123121460Z"), Some(t));
    }

    /// ppolicy's disabled-account value is a valid GeneralizedTime (year 0000) with a
    /// canonical form, but names no time of the server: [`parse`] gives `None` for it.
    #[test]
    fn the_disabled_account_marker() {
        assert_eq!(canonical(DISABLED).as_deref(), Some("00000101000000.000000Z"));
        assert_eq!(parse(DISABLED), None);
        assert_eq!(parse("19691231235959Z"), None, "before 1970");
        assert_eq!(parse("19700101000000Z"), Some(UNIX_EPOCH));
        assert_eq!(format(UNIX_EPOCH - Duration::from_secs(1), false), "19691231235959Z");
    }

    #[test]
    fn format_clamps_to_years_0000_to_9999() {
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(format(far, true), "99991231235959.999999Z");
        assert_eq!(format(far, false), "99991231235959Z");
        assert_eq!(canonical("99991231235959.999999Z").as_deref(), Some("99991231235959.999999Z"));
        // Year 10000 in UTC: refused (converting it used to panic).
        assert_eq!(canonical("99991231235959.999999-0100"), None);
        assert_eq!(canonical("99991231235959-2359"), None);
        assert_eq!(canonical("99991231235959Z"), Some("99991231235959.000000Z".to_string()));
    }

    #[test]
    fn now_has_the_right_shape() {
        let t = now();
        assert_eq!(t.len(), 15, "{t}");
        assert!(t.ends_with('Z') && t[..14].bytes().all(|b| b.is_ascii_digit()), "{t}");
        assert!(t.starts_with("20"), "{t}");
        assert!(parse(&t).is_some(), "{t}");
    }

    /// `instant` in a zone `offset_minutes` east of UTC, written with that offset.
    fn with_offset(t: SystemTime, offset_minutes: i32, short: bool) -> String {
        let utc = OffsetDateTime::from(t);
        let local = utc.to_offset(UtcOffset::from_whole_seconds(offset_minutes * 60).unwrap());
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let (h, m) = (offset_minutes.abs() / 60, offset_minutes.abs() % 60);
        let zone = if short { format!("{sign}{h:02}") } else { format!("{sign}{h:02}{m:02}") };
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}.{:06}{zone}",
            local.year(),
            u8::from(local.month()),
            local.day(),
            local.hour(),
            local.minute(),
            local.second(),
            local.microsecond()
        )
    }

    proptest! {
        /// Byte order of canonical forms is time order, and canonical forms are fixed points.
        #[test]
        fn order_is_time_order(a in 0i64..4_000_000_000_000_000, b in 0i64..4_000_000_000_000_000) {
            let show = |us: i64| {
                let t = time::OffsetDateTime::UNIX_EPOCH + time::Duration::microseconds(us);
                format!("{:04}{:02}{:02}{:02}{:02}{:02}.{:06}Z", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second(), t.microsecond())
            };
            let (ca, cb) = (canonical(&show(a)).unwrap(), canonical(&show(b)).unwrap());
            prop_assert_eq!(ca.cmp(&cb), a.cmp(&b));
            prop_assert_eq!(canonical(&ca), Some(ca.clone()));
        }

        /// Formatting then parsing gives the time back (to the microsecond, or to the
        /// second without a fraction); the form with a fraction is the canonical form.
        #[test]
        fn format_then_parse_is_identity(secs in 0u64..253_402_300_800, micros in 0u32..1_000_000) {
            let t = UNIX_EPOCH + Duration::new(secs, micros * 1000);
            let with = format(t, true);
            prop_assert_eq!(parse(&with), Some(t));
            prop_assert_eq!(canonical(&with), Some(with.clone()));
            prop_assert_eq!(parse(&format(t, false)), Some(UNIX_EPOCH + Duration::from_secs(secs)));
        }

        /// A time written in any zone RFC 4517 allows (`±hhmm` up to 23:59, or `±hh`) is the
        /// same instant as its UTC form.
        #[test]
        fn offsets_name_the_same_instant(
            secs in 86_400u64..253_402_214_400,
            micros in 0u32..1_000_000,
            offset_minutes in -1439i32..=1439,
        ) {
            let t = UNIX_EPOCH + Duration::new(secs, micros * 1000);
            prop_assert_eq!(parse(&with_offset(t, offset_minutes, false)), Some(t));
            prop_assert_eq!(canonical(&with_offset(t, offset_minutes, false)), Some(format(t, true)));
            let whole_hours = offset_minutes / 60 * 60;
            prop_assert_eq!(parse(&with_offset(t, whole_hours, true)), Some(t));
        }

        /// Nothing panics on arbitrary input.
        #[test]
        fn arbitrary_input_never_panics(s in "(9999|0000|[0-9]{4})[0-9.,Z+-]{0,20}") {
            let _ = canonical(&s);
            let _ = parse(&s);
        }
    }
}
