//! GeneralizedTime values for generalizedTimeMatch and generalizedTimeOrderingMatch (RFC 4517
//! sections 3.3.13, 4.2.16 and 4.2.17): the canonical form is UTC with microseconds,
//! `YYYYMMDDHHMMSS.ffffffZ`, fixed width, so that equal instants written differently
//! (`...131500+0100` and `...121500Z`, `...1215Z`) are equal, and byte order is time order
//! (which index keys and ordering filters rely on).

use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

/// The canonical form of a GeneralizedTime, or `None` if the value is not one.
pub fn canonical(value: &str) -> Option<String> {
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
    let utc = local
        .checked_add(time::Duration::microseconds(i64::try_from(extra_micros + leap).ok()?))?
        .to_offset(UtcOffset::UTC);
    if !(0..=9999).contains(&utc.year()) {
        return None;
    }
    Some(format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}.{:06}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        utc.microsecond()
    ))
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

    #[test]
    fn equal_instants_are_equal() {
        let z = canonical("20261123121500Z").unwrap();
        assert_eq!(z, "20261123121500.000000Z");
        assert_eq!(canonical("20261123131500+0100").unwrap(), z);
        assert_eq!(canonical("20261123071500-05").unwrap(), z);
        assert_eq!(canonical("202611231215Z").unwrap(), z);
        assert_eq!(canonical("2026112312.25Z").unwrap(), z);
        assert_eq!(canonical("20261123121500,0Z").unwrap(), z);
        assert_eq!(canonical("000001010000Z").unwrap(), "00000101000000.000000Z", "ppolicy's disabled value");
        for bad in
            ["", "2026", "20261323121500Z", "20261123121500", "20261123121500.Z", "20261123121500+2500", "2026-11-23"]
        {
            assert_eq!(canonical(bad), None, "{bad}");
        }
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
    }
}
