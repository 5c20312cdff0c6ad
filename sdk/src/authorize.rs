//! The `authorize` hook (`export! { authorize = check }`), CoWorks' auth hook as the model:
//! a function that receives a request's head (method, path, route, headers, the
//! `Authorization` header among them) before its body is read, and answers who the caller
//! is and which routes they may call, or refuses (401 / 403 in the contract's shape). A
//! product names it in `apiphant.toml` (`[auth] authorize = "<crate>"`) to check JWTs, OIDC
//! tokens or keys kept in a database. Marked `.blocking()`, the server runs it on its
//! blocking pool. The wire shapes (the call's body, the answer's JSON) are defined here
//! once, for the glue and the host (docs/protocol.md, "The authorize hook").

use serde::{Deserialize, Serialize};

/// A request's head as the hook sees it (borrowed for the call).
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// `POST` (the checks before the hook answered every other method).
    pub method: &'a str,
    /// The request target as sent: `/api/v1/notes/read` (a query string included).
    pub path: &'a str,
    /// The route and action called: `v1/notes/read`.
    pub route: &'a str,
    headers: &'a [(&'a str, &'a [u8])],
}

impl<'a> RequestHead<'a> {
    /// A head (the glue builds it; tests of a hook may too).
    pub fn new(
        method: &'a str,
        path: &'a str,
        route: &'a str,
        headers: &'a [(&'a str, &'a [u8])],
    ) -> RequestHead<'a> {
        RequestHead {
            method,
            path,
            route,
            headers,
        }
    }

    /// Every header, as received (names in their sent case).
    pub fn headers(&self) -> &'a [(&'a str, &'a [u8])] {
        self.headers
    }

    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(have, _)| have.eq_ignore_ascii_case(name))
            .map(|(_, value)| *value)
    }

    /// The credential of `Authorization: Bearer <credential>` (scheme in any case), if
    /// the request has exactly that.
    pub fn bearer(&self) -> Option<&'a str> {
        let value = std::str::from_utf8(self.header("authorization")?)
            .ok()?
            .trim();
        let (scheme, credential) = value.split_once(' ')?;
        let credential = credential.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
    }
}

/// Who the caller is, and what they may call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Their name, as the access log and the action's request context show it: 1 to 128
    /// visible ASCII characters (`alice`, `alice@example.com`, `svc:billing`), no `"` or `\`.
    pub identity: String,
    /// Globs over `<version>/<target>/<action>` they may call (`*` any run of characters).
    pub routes: Vec<String>,
}

impl Identity {
    /// `name`, allowed `routes`.
    pub fn new(
        name: impl Into<String>,
        routes: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Identity {
            identity: name.into(),
            routes: routes.into_iter().map(Into::into).collect(),
        }
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 401 `{"error":"401 Unauthorized"}` with `WWW-Authenticate: Bearer`: no credential,
    /// or one the hook does not accept.
    Unauthorized,
    /// 403 `{"error":"403 Forbidden"}`: a known caller who may not call this.
    Forbidden,
}

impl Refusal {
    /// The status the server answers.
    pub fn status(self) -> u16 {
        match self {
            Refusal::Unauthorized => 401,
            Refusal::Forbidden => 403,
        }
    }
}

/// What a hook returns.
pub type AuthorizeResult = Result<Identity, Refusal>;

/// The body of the hook's call: what the head does not carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeCall {
    /// `v1/notes/read`.
    pub route: String,
}

/// The hook as `export!` holds it: the function, and whether it blocks.
#[derive(Clone)]
pub struct Authorize {
    pub(crate) run: std::sync::Arc<dyn Fn(&RequestHead<'_>) -> AuthorizeResult + Send + Sync>,
    pub(crate) blocking: bool,
}

impl std::fmt::Debug for Authorize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorize")
            .field("blocking", &self.blocking)
            .finish_non_exhaustive()
    }
}

/// `authorize = authorizer(check).blocking()`: the hook, marked to run on the blocking
/// pool (it reads a database, calls an identity provider).
pub fn authorizer<F>(run: F) -> Authorize
where
    F: Fn(&RequestHead<'_>) -> AuthorizeResult + Send + Sync + 'static,
{
    Authorize {
        run: std::sync::Arc::new(run),
        blocking: false,
    }
}

impl Authorize {
    /// Runs it on the server's blocking pool (it waits on I/O).
    pub fn blocking(self) -> Authorize {
        Authorize {
            blocking: true,
            ..self
        }
    }
}

/// What `export! { authorize = .. }` accepts: a function or an [`authorizer`]. `M` only
/// tells the two apart.
pub trait IntoAuthorize<M> {
    /// The hook.
    fn into_authorize(self) -> Authorize;
}

impl IntoAuthorize<()> for Authorize {
    fn into_authorize(self) -> Authorize {
        self
    }
}

impl<F> IntoAuthorize<((),)> for F
where
    F: Fn(&RequestHead<'_>) -> AuthorizeResult + Send + Sync + 'static,
{
    fn into_authorize(self) -> Authorize {
        authorizer(self)
    }
}

/// Whether `name` is an identity the host accepts (see [`Identity::identity`]).
pub fn is_identity(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_headers_and_bearer() {
        let headers: [(&str, &[u8]); 2] = [("Host", b"x"), ("authorization", b"bearer  abc.def ")];
        let head = RequestHead::new("POST", "/api/v0/echo/read", "v0/echo/read", &headers);
        assert_eq!(head.header("AUTHORIZATION"), Some(&b"bearer  abc.def "[..]));
        assert_eq!(head.bearer(), Some("abc.def"));
        let basic: [(&str, &[u8]); 1] = [("Authorization", b"Basic YWxh")];
        let head = RequestHead::new("POST", "/", "v0/x/read", &basic);
        assert_eq!(head.bearer(), None);
        assert!(is_identity("alice@example.com") && is_identity("svc:billing"));
        assert!(!is_identity("") && !is_identity("a b") && !is_identity("a\"b"));
        assert!(!is_identity(&"x".repeat(129)));
        assert_eq!(Refusal::Forbidden.status(), 403);
    }
}
