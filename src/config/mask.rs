//! Secrets out of the printed configuration (`apiphant config`): values that came from an
//! environment variable, values of secret-looking keys, and passwords inside URLs.

use serde_json::Value;

/// What a masked value prints as.
pub const MASK: &str = "***";

/// Key names whose string values are secrets wherever they appear (plugin tables
/// included), compared in lower case as a part of the key: `smtp_password`, `api_token`.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
];

/// `scheme://user:password@host/...` with the password replaced by [`MASK`]; `None` when
/// `text` is not such a URL or carries no password.
pub fn mask_url_password(text: &str) -> Option<String> {
    let (scheme, rest) = text.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let at = authority.rfind('@')?;
    let (user, _password) = authority[..at].split_once(':')?;
    Some(format!(
        "{scheme}://{user}:{MASK}{}",
        &rest[at..] // "@host/..."
    ))
}

/// Masks, in place: the values at `paths` (dotted: `email.password`) that are present,
/// every string under a secret-looking key, and the password of every URL string.
pub(crate) fn mask(value: &mut Value, paths: &[impl AsRef<str>]) {
    for path in paths {
        let mut at = Some(&mut *value);
        for part in path.as_ref().split('.') {
            at = at.and_then(|value| match value {
                Value::Array(items) => part.parse::<usize>().ok().and_then(|n| items.get_mut(n)),
                other => other.get_mut(part),
            });
        }
        if let Some(found) = at.filter(|found| !found.is_null()) {
            *found = Value::from(MASK);
        }
    }
    mask_tree(value);
}

fn mask_tree(value: &mut Value) {
    match value {
        Value::String(text) => {
            if let Some(masked) = mask_url_password(text) {
                *text = masked;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_tree),
        Value::Object(entries) => {
            for (key, entry) in entries.iter_mut() {
                let key = key.to_ascii_lowercase();
                if entry.is_string() && SECRET_KEYS.iter().any(|secret| key.contains(secret)) {
                    *entry = Value::from(MASK);
                } else {
                    mask_tree(entry);
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn url_passwords() {
        let masked = |text: &str| mask_url_password(text);
        assert_eq!(
            masked("postgres://user:hunter2@db.example.com:5432/app").as_deref(),
            Some("postgres://user:***@db.example.com:5432/app")
        );
        assert_eq!(
            masked("redis://:p%40ss@127.0.0.1/0?x=a@b").as_deref(),
            Some("redis://:***@127.0.0.1/0?x=a@b")
        );
        assert_eq!(
            masked("mysql://u:a@b@host").as_deref(),
            Some("mysql://u:***@host")
        );
        for plain in [
            "postgres://user@host/db",
            "https://example.com/a:b@c",
            "not a url",
            "ops@example.com",
            "://u:p@h",
        ] {
            assert_eq!(masked(plain), None, "{plain}");
        }
    }

    #[test]
    fn paths_secret_keys_and_urls() {
        let mut value = json!({
            "email": {"password": "from-env", "host": "smtp"},
            "server": {"workers": 0},
            "plugins": {"users": {
                "url": "postgres://u:p@h/db",
                "api_token": "t",
                "max_tokens": 5,
                "list": ["amqp://a:b@q"]
            }}
        });
        mask(&mut value, &["email.password", "database.url"]);
        let at = |pointer: &str| value.pointer(pointer).cloned().unwrap_or_default();
        assert_eq!(at("/email/password"), "***");
        assert_eq!(at("/email/host"), "smtp");
        assert_eq!(at("/server/workers"), 0);
        assert_eq!(at("/plugins/users/url"), "postgres://u:***@h/db");
        assert_eq!(at("/plugins/users/api_token"), "***");
        assert_eq!(at("/plugins/users/max_tokens"), 5);
        assert_eq!(at("/plugins/users/list/0"), "amqp://a:***@q");
        assert!(value.get("database").is_none());
    }
}
