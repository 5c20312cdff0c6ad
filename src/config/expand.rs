//! `${NAME}` in the string values of `[plugins.<crate>]` tables: replaced by the
//! environment variable `NAME` when the file is read, so secrets (a database URL, an API
//! key) stay out of `apiphant.toml`. `$${` writes a literal `${`. A variable that is not set
//! stops start-up with one line naming the key. The keys expanded are recorded, so
//! `apiphant config` masks their values.

/// Expands every string of `table` (recursively), whose dotted key starts with `prefix`
/// (`plugins.users`); records the dotted keys of the values that used the environment in
/// `from_env`. `Err` is the one-line reason.
pub(crate) fn expand_table(
    table: &mut toml::Table,
    prefix: &str,
    env: &dyn Fn(&str) -> Option<String>,
    from_env: &mut Vec<String>,
) -> Result<(), String> {
    for (key, value) in table.iter_mut() {
        expand_value(value, &format!("{prefix}.{key}"), env, from_env)?;
    }
    Ok(())
}

fn expand_value(
    value: &mut toml::Value,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
    from_env: &mut Vec<String>,
) -> Result<(), String> {
    match value {
        toml::Value::String(text) => {
            if let Some((expanded, used_env)) =
                expand(text, env).map_err(|why| format!("{key}: {why}"))?
            {
                *text = expanded;
                if used_env {
                    from_env.push(key.to_owned());
                }
            }
        }
        toml::Value::Array(items) => {
            for (n, item) in items.iter_mut().enumerate() {
                expand_value(item, &format!("{key}.{n}"), env, from_env)?;
            }
        }
        toml::Value::Table(table) => expand_table(table, key, env, from_env)?,
        _ => {}
    }
    Ok(())
}

/// `text` with each `${NAME}` replaced, and whether any was; `None` when it has none
/// (nothing to replace).
fn expand(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(String, bool)>, String> {
    if !text.contains("${") {
        return Ok(None);
    }
    let mut out = String::with_capacity(text.len());
    let mut used = false;
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(literal) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = literal;
        } else if let Some(open) = after.strip_prefix("${") {
            let Some(close) = open.find('}') else {
                return Err("'${' without its closing '}' (write $${ for a literal ${)".to_owned());
            };
            let name = &open[..close];
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                return Err(format!(
                    "'${{{name}}}' is not an environment variable name (letters, digits and _)"
                ));
            }
            let Some(value) = env(name) else {
                return Err(format!(
                    "the environment variable {name} is not set (export it, or write the value in the file)"
                ));
            };
            out.push_str(&value);
            used = true;
            rest = &open[close + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(Some((out, used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "DB_PASSWORD" => Some("s3cret".to_owned()),
            "HOST" => Some("db".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn expands_and_records_the_keys() {
        let mut table: toml::Table = toml::from_str(
            r#"
            url = "postgres://app:${DB_PASSWORD}@${HOST}/app"
            plain = "no $ variables {here}"
            literal = "$${HOST}"
            list = ["${HOST}", "x"]
            [pool]
            name = "${HOST}"
            size = 4
            "#,
        )
        .unwrap_or_default();
        let mut from_env = Vec::new();
        assert_eq!(
            expand_table(&mut table, "plugins.db", &env, &mut from_env),
            Ok(())
        );
        assert_eq!(table["url"].as_str(), Some("postgres://app:s3cret@db/app"));
        assert_eq!(table["plain"].as_str(), Some("no $ variables {here}"));
        assert_eq!(table["literal"].as_str(), Some("${HOST}"));
        assert_eq!(table["list"][0].as_str(), Some("db"));
        assert_eq!(table["pool"]["name"].as_str(), Some("db"));
        assert_eq!(
            from_env,
            [
                "plugins.db.list.0",
                "plugins.db.pool.name",
                "plugins.db.url"
            ]
        );
    }

    #[test]
    fn a_missing_variable_names_the_key() {
        let mut table: toml::Table =
            toml::from_str(r#"api_key = "${API_KEY}""#).unwrap_or_default();
        let result = expand_table(&mut table, "plugins.shop", &env, &mut Vec::new());
        assert_eq!(
            result,
            Err("plugins.shop.api_key: the environment variable API_KEY is not set (export it, or write the value in the file)".to_owned())
        );
        let mut table: toml::Table = toml::from_str(r#"a = "${oops""#).unwrap_or_default();
        assert!(expand_table(&mut table, "plugins.x", &env, &mut Vec::new()).is_err());
    }
}
