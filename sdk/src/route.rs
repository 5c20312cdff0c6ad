//! The route grammar, one definition for `export!` (checked at build time), the host
//! (checked again when a plugin loads) and the docs: a route is `v<digits>/<target>`, a
//! target is one or more `/`-separated segments of ASCII letters, digits, `_` and `-`, and
//! an action is one of [`ACTIONS`]. A target whose first segment starts with `_` is the
//! host's own ([`JOBS_ROUTE`]): no plugin may take one. `const fn`s, so a bad `export!`
//! line fails to compile.

/// The host's built-in route of asynchronous calls' jobs (`read`: status and result,
/// `delete`: cancel); reserved by the grammar (a plugin's target never starts with `_`).
pub const JOBS_ROUTE: &str = "v0/_jobs";

/// The CRUD action names a route may end with.
pub const ACTIONS: [&str; 4] = ["create", "read", "update", "delete"];

/// Why a route is not valid; offsets are byte ranges into the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// The first segment, `route[..end]`, is not `v<digits>`.
    Version {
        /// End of the first segment.
        end: usize,
    },
    /// A target segment, `route[start..end]`, is empty or holds another byte.
    Segment {
        /// Start of the segment.
        start: usize,
        /// End of the segment.
        end: usize,
    },
    /// Nothing follows the version.
    NoTarget,
    /// The target starts with `_`, the host's reserved prefix (`route[start..end]`).
    Reserved {
        /// Start of the first target segment.
        start: usize,
        /// Its end.
        end: usize,
    },
}

/// Whether `name` is one of the four action names.
pub const fn is_action(name: &str) -> bool {
    let mut n = 0;
    while n < ACTIONS.len() {
        if bytes_eq(ACTIONS[n].as_bytes(), name.as_bytes()) {
            return true;
        }
        n += 1;
    }
    false
}

/// Whether `b` may appear in a target segment.
pub const fn is_segment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Checks a route such as `v0/users/profile`.
pub const fn check_route(route: &str) -> Result<(), RouteError> {
    let bytes = route.as_bytes();
    let mut end = 0;
    while end < bytes.len() && bytes[end] != b'/' {
        end += 1;
    }
    if end < 2 || bytes[0] != b'v' {
        return Err(RouteError::Version { end });
    }
    let mut n = 1;
    while n < end {
        if !bytes[n].is_ascii_digit() {
            return Err(RouteError::Version { end });
        }
        n += 1;
    }
    if end == bytes.len() {
        return Err(RouteError::NoTarget);
    }
    let mut start = end + 1;
    if start < bytes.len() && bytes[start] == b'_' {
        let mut stop = start;
        while stop < bytes.len() && bytes[stop] != b'/' {
            stop += 1;
        }
        return Err(RouteError::Reserved { start, end: stop });
    }
    loop {
        let mut stop = start;
        while stop < bytes.len() && bytes[stop] != b'/' {
            if !is_segment_byte(bytes[stop]) {
                while stop < bytes.len() && bytes[stop] != b'/' {
                    stop += 1;
                }
                return Err(RouteError::Segment { start, end: stop });
            }
            stop += 1;
        }
        if stop == start {
            return Err(RouteError::Segment { start, end: stop });
        }
        if stop == bytes.len() {
            return Ok(());
        }
        start = stop + 1;
    }
}

/// Whether `route` is valid (for `const` asserts).
pub const fn is_route(route: &str) -> bool {
    check_route(route).is_ok()
}

impl RouteError {
    /// What is wrong, quoting the part of `route` at fault.
    pub fn message(&self, route: &str) -> String {
        let part = |start: usize, end: usize| route.get(start..end).unwrap_or(route);
        match *self {
            RouteError::Version { end } => {
                format!("'{}' is not a version like v0", part(0, end))
            }
            RouteError::Segment { start, end } => format!(
                "'{}' is not a target segment (letters, digits, _ and -)",
                part(start, end)
            ),
            RouteError::NoTarget => "a target name must follow the version".to_owned(),
            RouteError::Reserved { start, end } => format!(
                "'{}' starts with _, reserved for apiphant's own routes (rename the target)",
                part(start, end)
            ),
        }
    }
}

/// Whether no two of `names` are equal (`export!`'s check that a route lists each action
/// once).
pub const fn all_distinct(names: &[&str]) -> bool {
    let mut a = 0;
    while a < names.len() {
        let mut b = a + 1;
        while b < names.len() {
            if bytes_eq(names[a].as_bytes(), names[b].as_bytes()) {
                return false;
            }
            b += 1;
        }
        a += 1;
    }
    true
}

const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut n = 0;
    while n < a.len() {
        if a[n] != b[n] {
            return false;
        }
        n += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(is_route("v0/echo"));
        assert!(is_route("v12/users/profile"));
        assert!(is_route("v1/a_b-C9"));
        assert!(is_route("v1/a/_b"));
        assert_eq!(
            check_route(JOBS_ROUTE).map_err(|e| e.message(JOBS_ROUTE)),
            Err(
                "'_jobs' starts with _, reserved for apiphant's own routes (rename the target)"
                    .to_owned()
            )
        );
        for bad in [
            "",
            "echo",
            "v0",
            "v0/",
            "V0/echo",
            "vx/echo",
            "v/echo",
            "v0//a",
            "v0/a b",
            "v0/a/../b",
            "v0/a/",
            "v0/_jobs",
            "v1/_x/y",
        ] {
            assert!(!is_route(bad), "{bad}");
        }
        assert_eq!(
            check_route("v0/a b/c").map_err(|e| e.message("v0/a b/c")),
            Err("'a b' is not a target segment (letters, digits, _ and -)".to_owned())
        );
        assert_eq!(
            check_route("vx/echo").map_err(|e| e.message("vx/echo")),
            Err("'vx' is not a version like v0".to_owned())
        );
        assert_eq!(check_route("v0"), Err(RouteError::NoTarget));
    }

    #[test]
    fn actions() {
        const { assert!(is_action("read") && is_route("v0/echo")) };
        for name in ACTIONS {
            assert!(is_action(name));
        }
        assert!(all_distinct(&["v0/a read", "v0/a create", "v0/b read"]));
        assert!(!all_distinct(&["v0/a read", "v0/b read", "v0/a read"]));
        for bad in ["", "Read", "list", "reads", "creat"] {
            assert!(!is_action(bad), "{bad}");
        }
    }
}
