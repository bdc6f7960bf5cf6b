//! Quota accounting: how full an account is, when a write is refused, and when the owner is
//! warned (once on crossing 70 % and once on crossing 90 %, again only after use fell below the
//! mark and crossed it anew).

use serde::{Deserialize, Serialize};

/// How full an account is, in the steps that trigger a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum QuotaLevel {
    Normal,
    /// At or above 70 %.
    Warn70,
    /// At or above 90 %.
    Warn90,
}

impl QuotaLevel {
    pub fn of(used: u64, limit: Option<u64>) -> Self {
        let Some(limit) = limit else { return Self::Normal };
        if limit == 0 {
            return Self::Warn90;
        }
        // Compare used/limit with 7/10 and 9/10 in integers.
        let (u, l) = (u128::from(used), u128::from(limit));
        if u * 10 >= l * 9 {
            Self::Warn90
        } else if u * 10 >= l * 7 {
            Self::Warn70
        } else {
            Self::Normal
        }
    }

    pub fn percent(self) -> u8 {
        match self {
            Self::Normal => 0,
            Self::Warn70 => 70,
            Self::Warn90 => 90,
        }
    }

    pub fn code(self) -> i16 {
        i16::from(self.percent())
    }

    pub fn from_code(c: i16) -> Self {
        match c {
            90.. => Self::Warn90,
            70.. => Self::Warn70,
            _ => Self::Normal,
        }
    }
}

/// After a change of use: the level to remember, and the warning to send if a mark was crossed
/// upwards. Falling below a mark re-arms it without a warning.
pub fn after_change(remembered: QuotaLevel, used: u64, limit: Option<u64>) -> (QuotaLevel, Option<QuotaLevel>) {
    let now = QuotaLevel::of(used, limit);
    if now > remembered { (now, Some(now)) } else { (now, None) }
}

/// Whether `extra` more bytes fit.
pub fn fits(used: u64, extra: u64, limit: Option<u64>) -> bool {
    limit.is_none_or(|l| used.checked_add(extra).is_some_and(|total| total <= l))
}

/// Parses a size such as `2GiB`, `500 MB`, `1024`, `1.5G` (binary multiples for both `G` and
/// `GiB`, as mail admins mean them; `GB` too).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let mult: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    if num.is_empty() {
        return None;
    }
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult);
    }
    let f = num.parse::<f64>().ok()?;
    let v = f * mult as f64;
    (0.0..1.8e19).contains(&v).then_some(v as u64)
}

/// Formats bytes for people: `1.5 GiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 { format!("{bytes} B") } else { format!("{v:.1} {}", UNITS[i]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(QuotaLevel::of(10, None), QuotaLevel::Normal);
        assert_eq!(QuotaLevel::of(69, Some(100)), QuotaLevel::Normal);
        assert_eq!(QuotaLevel::of(70, Some(100)), QuotaLevel::Warn70);
        assert_eq!(QuotaLevel::of(89, Some(100)), QuotaLevel::Warn70);
        assert_eq!(QuotaLevel::of(90, Some(100)), QuotaLevel::Warn90);
        assert_eq!(QuotaLevel::of(u64::MAX, Some(u64::MAX)), QuotaLevel::Warn90);
        for l in [QuotaLevel::Normal, QuotaLevel::Warn70, QuotaLevel::Warn90] {
            assert_eq!(QuotaLevel::from_code(l.code()), l);
        }
    }

    #[test]
    fn warns_once_per_crossing() {
        let lim = Some(100);
        let (lvl, w) = after_change(QuotaLevel::Normal, 50, lim);
        assert_eq!((lvl, w), (QuotaLevel::Normal, None));
        let (lvl, w) = after_change(lvl, 75, lim);
        assert_eq!((lvl, w), (QuotaLevel::Warn70, Some(QuotaLevel::Warn70)));
        let (lvl, w) = after_change(lvl, 80, lim);
        assert_eq!((lvl, w), (QuotaLevel::Warn70, None), "no second warning at the same level");
        let (lvl, w) = after_change(lvl, 95, lim);
        assert_eq!((lvl, w), (QuotaLevel::Warn90, Some(QuotaLevel::Warn90)));
        let (lvl, w) = after_change(lvl, 60, lim);
        assert_eq!((lvl, w), (QuotaLevel::Normal, None), "dropping re-arms silently");
        let (_, w) = after_change(lvl, 71, lim);
        assert_eq!(w, Some(QuotaLevel::Warn70), "crossing again warns again");
        // jumping straight past both marks warns once, at 90
        assert_eq!(after_change(QuotaLevel::Normal, 99, lim).1, Some(QuotaLevel::Warn90));
    }

    #[test]
    fn fits_checks_limit() {
        assert!(fits(90, 10, Some(100)));
        assert!(!fits(90, 11, Some(100)));
        assert!(fits(u64::MAX, 1, None));
        assert!(!fits(u64::MAX, 1, Some(u64::MAX)));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("500 MB"), Some(500 << 20));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("1.5g"), Some(3 << 29));
        assert_eq!(parse_size("0"), Some(0));
        for bad in ["", "GiB", "2 parsecs", "-1", "1e99", "99999999999T"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
        assert_eq!(format_size(1536 << 20), "1.5 GiB");
        assert_eq!(format_size(12), "12 B");
    }
}
