//! Unit tests of the configuration reader: every range at each bound, the error line, the
//! environment's override and its mask, plugin tables, docs/operations.md's table.

use super::*;

const EMAIL: &str =
    "[email]\nhost = \"smtp.example.com\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n";

const DATABASE: &str = "[database]\nurl = \"postgres://app@db.example.com/app\"\n";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/p/apiphant.toml"), text, |_| None)
}

/// `key = value` in its section (the email and database sections are completed).
fn with(key: &str, value: &str) -> String {
    let (section, name) = key.split_once('.').unwrap_or(("", key));
    let (base, header) = match section {
        "email" => (EMAIL, String::new()),
        "database" => (DATABASE, String::new()),
        _ => ("", format!("[{section}]\n")),
    };
    format!("{base}{header}{name} = {value}\n")
}

#[test]
fn every_range_at_each_bound() {
    // key, below the range, its lowest, its highest, above it ("-" when the type forbids it).
    let cases = "
        server.workers                  -     0    1024        1025
        server.max_headers              0     1    512         513
        server.max_header_bytes         255   256  1048576     1048577
        server.max_body_bytes           63    64   1073741824  1073741825
        server.memory_budget_bytes      -     0    1099511627776  1099511627777
        server.header_timeout_secs      0.09  0.1  3600        3600.5
        server.body_timeout_secs        0.05  0.1  3600        3601
        server.idle_timeout_secs        0     0.1  3600        1e9
        server.shutdown_grace_secs      -0.5  0    3600        3601
        server.stack_kib                63    64   65536       65537
        server.blocking_threads         0     1    4096        4097
        server.action_timeout_secs      0.05  0.1  86400       86401
        server.blocking_warn_ms         -     0    60000       60001
        background.shutdown_grace_secs  -1    0    3600        3600.1
        email.port                      0     1    65535       -
        email.timeout_secs              0     0.1  600         601
        database.connect_timeout_secs   0     0.1  600         601
        cors.max_age_secs               -1    0    86400       86400.5";
    let mut tested = 0;
    for case in cases.lines().filter(|line| !line.trim().is_empty()) {
        let [key, below, lowest, highest, above] = case.split_whitespace().collect::<Vec<_>>()[..]
        else {
            panic!("bad case {case}")
        };
        tested += 1;
        for good in [lowest, highest] {
            let config = parse(&with(key, good));
            assert!(config.is_ok(), "{key} = {good}: {config:?}");
        }
        for bad in [below, above, "nan", "inf"] {
            if bad == "-" {
                continue;
            }
            match parse(&with(key, bad)) {
                Err(ConfigError::OutOfRange {
                    key: named, value, ..
                }) => {
                    assert_eq!(named, key);
                    assert!(
                        value.to_lowercase() == bad || value.parse::<f64>() == bad.parse::<f64>(),
                        "{key}: {value} for {bad}"
                    );
                }
                // Integers: `nan` and `inf` are refused by type, as invalid.
                Err(ConfigError::Invalid { reason, .. }) if !key.ends_with("secs") => {
                    assert!(["nan", "inf"].contains(&bad), "{key} = {bad}: {reason}");
                }
                other => panic!("{key} = {bad}: {other:?}"),
            }
        }
    }
    let all = format!("{EMAIL}{DATABASE}[cors]\n");
    assert_eq!(tested, parse(&all).map(|c| c.limits().len()).unwrap_or(0));
    // 0 is "automatic" for the stack: in range although below 64.
    assert!(parse(&with("server.stack_kib", "0")).is_ok());
}

#[test]
fn an_out_of_range_value_is_one_line_naming_file_key_value_and_range() {
    let error = parse("[server]\nmax_headers = 0\n").expect_err("out of range");
    assert_eq!(
        error.to_string(),
        "config '/p/apiphant.toml': server.max_headers = 0 is out of range (1..=512)"
    );
    let error = parse("[server]\nstack_kib = 32\n").expect_err("out of range");
    assert!(
        error
            .to_string()
            .ends_with("server.stack_kib = 32 is out of range (0 or 64..=65536)"),
        "{error}"
    );
    let error = parse("[server]\nmax_headerz = 1\n").expect_err("unknown key");
    assert!(
        error.to_string().starts_with(
            "config '/p/apiphant.toml' is invalid: line 2: unknown field `max_headerz`"
        ),
        "{error}"
    );
    assert!(!error.to_string().contains('\n'));
}

#[test]
fn a_memory_budget_below_one_largest_body_is_one_line_and_automatic_is_derived() {
    let error = parse("[server]\nmax_body_bytes = 2048\nmemory_budget_bytes = 1024\n")
        .expect_err("below max_body_bytes");
    assert_eq!(
        error.to_string(),
        "config '/p/apiphant.toml': server.memory_budget_bytes: 1024 is below server.max_body_bytes (2048): one largest body could never be read; raise it, or 0 for automatic"
    );
    let server = parse("").expect("defaults").server;
    let mib = 1024 * 1024;
    // 8 largest bodies, capped to a quarter of the machine, never below one body.
    assert_eq!(server.memory_budget(None), 128 * mib);
    assert_eq!(server.memory_budget(Some(256 * mib)), 64 * mib);
    assert_eq!(server.memory_budget(Some(mib)), 16 * mib);
    let set = parse("[server]\nmemory_budget_bytes = 33554432\n").expect("valid");
    assert_eq!(set.server.memory_budget(Some(mib)), 32 * mib);
}

#[test]
fn defaults_are_in_range_and_filled_when_printed() {
    let config = parse("").expect("an empty file is every default");
    assert!(config.limits().iter().all(|limit| limit.ok));
    let resolved = config.resolved(Path::new("/srv/shop"));
    assert_eq!(resolved["name"], "shop");
    assert_eq!(resolved["file"], "/srv/shop/apiphant.toml");
    assert_eq!(resolved["server"]["max_headers"], 64);
    assert_eq!(resolved["server"]["idle_timeout_secs"], 75.0);
    assert_eq!(resolved["background"]["time_zone"], "UTC");
    assert_eq!(
        resolved["background"]["lock_file"],
        default_lock_file(Path::new("/srv/shop"))
            .display()
            .to_string()
    );
    assert_eq!(resolved["email"], Value::Null);
    assert_eq!(resolved["plugins"], json!({}));
    assert_eq!(get(&resolved, "server.max_headers").as_deref(), Some("64"));
    assert_eq!(get(&resolved, "name").as_deref(), Some("shop"));
    assert_eq!(get(&resolved, "server.nothing"), None);
}

#[test]
fn the_environment_password_wins_and_is_masked() {
    let text = format!("name = \"x\"\n{EMAIL}username = \"u\"\npassword = \"in-file\"\n");
    let env = |name: &str| (name == PASSWORD_ENV).then(|| "from-env".to_owned());
    let config = Config::parse(Path::new("/p/apiphant.toml"), &text, env).expect("valid");
    let email = config.email.as_ref().expect("email");
    assert_eq!(email.password().as_deref(), Some("from-env"));
    assert_eq!(config.from_env, ["email.password"]);
    let resolved = config.resolved(Path::new("/p"));
    assert_eq!(resolved["email"]["password"], MASK);
    assert_eq!(resolved["email"]["port"], 587);
    assert_eq!(resolved["email"]["subject_prefix"], "[x] ");
    assert_eq!(resolved["from_env"], json!(["email.password"]));
    assert!(!resolved.to_string().contains("from-env"));
    // Without the environment, the file's password: a secret all the same.
    let config = parse(&text).expect("valid");
    assert_eq!(
        config.email.as_ref().and_then(EmailConfig::password),
        Some("in-file".to_owned())
    );
    assert!(config.from_env.is_empty());
    assert!(!config
        .resolved(Path::new("/p"))
        .to_string()
        .contains("in-file"));
    // No [email] section: the variable has nothing to override.
    let config = Config::parse(Path::new("/p/apiphant.toml"), "", env).expect("valid");
    assert!(config.email.is_none() && config.from_env.is_empty());
}

#[test]
fn plugin_tables_are_free_form_and_reach_the_host_as_json() {
    let config = parse(
        "[plugins.users]\ndatabase = \"postgres://app:hunter2@db/app\"\npool = 4\nratio = 0.5\n\
         since = 1979-05-27T07:32:00Z\n[plugins.users.nested]\nflags = [true, false]\n\
         [plugins.echo-2]\n",
    )
    .expect("valid");
    let plugins = config.plugin_configs();
    assert_eq!(
        plugins.get("users"),
        Some(&json!({
            "database": "postgres://app:hunter2@db/app",
            "pool": 4,
            "ratio": 0.5,
            "since": "1979-05-27T07:32:00Z",
            "nested": {"flags": [true, false]}
        }))
    );
    assert_eq!(plugins.get("echo-2"), Some(&json!({})));
    // Printed, the URL's password is masked; the plugin receives it whole (above).
    let resolved = config.resolved(Path::new("/p"));
    assert_eq!(
        resolved["plugins"]["users"]["database"],
        "postgres://app:***@db/app"
    );
    // A plugin table is a table; its name a crate name; no top-level key collides.
    for bad in [
        "[plugins]\nusers = 1\n",
        "[plugins.\"a b\"]\n",
        "[users]\nx = 1\n",
    ] {
        assert!(
            matches!(parse(bad), Err(ConfigError::Invalid { .. })),
            "{bad}"
        );
    }
}

#[test]
fn the_operations_doc_gives_every_range() {
    let readme = include_str!("../../docs/operations.md");
    let config = parse(&format!("{EMAIL}{DATABASE}[cors]\n")).expect("valid");
    for limit in config.limits() {
        let row = readme
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", limit.key)))
            .unwrap_or_else(|| panic!("docs/operations.md: no row for `{}`", limit.key));
        assert!(
            row.contains(&format!("| {} |", limit.range)),
            "docs/operations.md row of `{}` does not say {}: {row}",
            limit.key,
            limit.range
        );
    }
}

#[test]
fn the_database_password_comes_from_the_environment_and_is_never_printed() {
    let text = "[database]\nurl = \"postgres://app:in-url@db/app\"\n";
    let env = |name: &str| (name == DATABASE_PASSWORD_ENV).then(|| "from-env".to_owned());
    let config = Config::parse(Path::new("/p/apiphant.toml"), text, env).expect("valid");
    let database = config.database.as_ref().expect("database");
    assert_eq!(database.password.as_deref(), Some("from-env"));
    assert_eq!(config.from_env, ["database.password"]);
    let resolved = config.resolved(Path::new("/p"));
    assert_eq!(resolved["database"]["url"], "postgres://app:***@db/app");
    assert_eq!(resolved["database"]["password"], MASK);
    let printed = resolved.to_string();
    assert!(
        !printed.contains("from-env") && !printed.contains("in-url"),
        "{printed}"
    );
    assert!(!format!("{config:?}").contains("in-url"));
    // Not a PostgreSQL URL: refused at once, naming the key, the URL's password masked.
    let bad = parse("[database]\nurl = \"mysql://u:secret@h/d\"\n");
    let line = bad.map(|_| ()).expect_err("refused").to_string();
    assert!(
        line.contains("database.url") && !line.contains("secret"),
        "{line}"
    );
}
