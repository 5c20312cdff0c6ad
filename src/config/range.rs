//! The documented range of every number in `apiphant.toml`, and the check that names the
//! key, the value and the range when a value falls outside it.

use std::fmt::Display;

/// The inclusive range a number must fall in; `zero` also admits 0 (its meaning is
/// "automatic", e.g. `server.stack_kib`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Range<T> {
    min: T,
    max: T,
    zero: bool,
}

impl<T: PartialOrd + Display + Copy + Default> Range<T> {
    /// `min..=max`.
    pub(crate) const fn new(min: T, max: T) -> Self {
        Range {
            min,
            max,
            zero: false,
        }
    }

    /// `0 or min..=max`.
    pub(crate) const fn or_zero(min: T, max: T) -> Self {
        Range {
            min,
            max,
            zero: true,
        }
    }

    /// Whether `value` is in the range (never NaN).
    pub(crate) fn contains(&self, value: T) -> bool {
        (self.zero && value == T::default()) || (self.min <= value && value <= self.max)
    }

    /// The key's value checked against the range.
    pub(crate) fn limit(self, key: &'static str, value: T) -> Limit {
        Limit {
            key,
            value: value.to_string(),
            range: self.to_string(),
            ok: self.contains(value),
        }
    }
}

impl<T: Display> Display for Range<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.zero {
            f.write_str("0 or ")?;
        }
        write!(f, "{}..={}", self.min, self.max)
    }
}

/// One key's value and its range, as written in docs/operations.md's table and in the error line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limit {
    /// The dotted key: `server.max_headers`.
    pub(crate) key: &'static str,
    /// The value, as TOML would write it.
    pub(crate) value: String,
    /// The range: `1..=512`, `0 or 64..=65536`.
    pub(crate) range: String,
    /// Whether the value is in its range.
    pub(crate) ok: bool,
}

/// The first limit whose value is out of its range.
pub(crate) fn first_out_of_range(limits: Vec<Limit>) -> Option<Limit> {
    limits.into_iter().find(|limit| !limit.ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_zero_is_opt_in() {
        let range = Range::new(1_usize, 512);
        assert!(!range.contains(0) && range.contains(1) && range.contains(512));
        assert!(!range.contains(513));
        assert_eq!(range.to_string(), "1..=512");
        let auto = Range::or_zero(64_usize, 65536);
        assert!(auto.contains(0) && !auto.contains(63) && auto.contains(64));
        assert!(auto.contains(65536) && !auto.contains(65537));
        assert_eq!(auto.to_string(), "0 or 64..=65536");
        let secs = Range::new(0.1, 3600.0);
        assert!(!secs.contains(0.09) && secs.contains(0.1) && secs.contains(3600.0));
        assert!(!secs.contains(f64::NAN) && !secs.contains(f64::INFINITY));
        assert_eq!(secs.to_string(), "0.1..=3600");
        let limit = Range::new(1_usize, 512).limit("server.max_headers", 0);
        assert_eq!(
            (limit.value.as_str(), limit.range.as_str(), limit.ok),
            ("0", "1..=512", false)
        );
    }
}
