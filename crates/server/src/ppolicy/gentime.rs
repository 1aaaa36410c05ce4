//! GeneralizedTime values (RFC 4517 section 3.3.13) as the password policy stores them:
//! `YYYYMMDDHHMMSSZ`, with a fraction (`.ffffffZ`) where several values may fall in one second
//! (pwdFailureTime, pwdGraceUseTime), as OpenLDAP writes them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The value that marks an account as disabled by an administrator (OpenLDAP's
/// "locked until an administrator unlocks it").
pub const DISABLED: &str = "000001010000Z";

/// Formats a time, with microseconds when `fraction` is set.
pub fn format(t: SystemTime, fraction: bool) -> String {
    // humantime prints RFC 3339 (`2026-11-23T12:34:56.123456Z`): keep its digits.
    let text = humantime::format_rfc3339_micros(t).to_string();
    let (whole, micros) = text.split_once('.').unwrap_or((&text, "000000Z"));
    let mut out: String = whole.chars().filter(|c| c.is_ascii_digit()).collect();
    if fraction {
        out.push('.');
        out.push_str(micros.trim_end_matches('Z'));
    }
    out.push('Z');
    out
}

/// Parses `YYYYMMDDHH[MM[SS]][.fraction](Z|±hhmm)`; `None` for anything else (including
/// [`DISABLED`], whose year 0000 RFC 3339 cannot express).
pub fn parse(value: &str) -> Option<SystemTime> {
    let v = value.trim();
    let (body, offset_secs) = if let Some(b) = v.strip_suffix('Z') {
        (b, 0i64)
    } else {
        let at = v.rfind(['+', '-'])?;
        let (b, off) = v.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let digits = &off[1..];
        if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let h: i64 = digits[..2].parse().ok()?;
        let m: i64 = digits[2..].parse().ok()?;
        (b, sign * (h * 3600 + m * 60))
    };
    let (digits, fraction) = match body.split_once(['.', ',']) {
        Some((d, f)) => (d, f),
        None => (body, ""),
    };
    if !matches!(digits.len(), 10 | 12 | 14) || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let field = |i: usize| digits.get(i..i + 2).unwrap_or("00");
    let rfc3339 =
        format!("{}-{}-{}T{}:{}:{}Z", &digits[..4], &digits[4..6], &digits[6..8], field(8), field(10), field(12));
    let base = humantime::parse_rfc3339(&rfc3339).ok()?;
    let micros: u64 = format!("{fraction:0<6}").get(..6)?.parse().ok()?;
    let t = base + Duration::from_micros(micros);
    let t = if offset_secs >= 0 {
        t.checked_sub(Duration::from_secs(offset_secs.unsigned_abs()))?
    } else {
        t.checked_add(Duration::from_secs(offset_secs.unsigned_abs()))?
    };
    (t >= UNIX_EPOCH).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_forms_slapd_writes() {
        let t = parse("20261123121500Z").unwrap();
        assert_eq!(format(t, false), "20261123121500Z");
        assert_eq!(parse("20261123121500.25Z").unwrap(), t + Duration::from_millis(250));
        assert_eq!(parse("20261123131500+0100").unwrap(), t);
        assert_eq!(parse("202611231215Z").unwrap(), t);
        for bad in [DISABLED, "", "2026", "20261323121500Z", "20261123121500", "2026112312150xZ", "20261123121500.Z9"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(secs in 0u64..4_000_000_000, micros in 0u32..1_000_000) {
            let t = UNIX_EPOCH + Duration::new(secs, micros * 1000);
            prop_assert_eq!(parse(&format(t, true)), Some(t));
            prop_assert_eq!(parse(&format(t, false)), Some(UNIX_EPOCH + Duration::from_secs(secs)));
        }
    }
}
