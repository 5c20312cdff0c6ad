//! The docs cannot drift: docs/operations.md's tables of `apiphant.toml` keys against what
//! the real `apiphant config` prints (every printed key has a row with the same default,
//! every row is printed), README.md's length, and every relative link of the docs.

use crate::util::{root, run_within, TempDir};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Printed keys that are not `apiphant.toml` keys: the file read and the keys that came from
/// the environment (docs/operations.md, "What it resolves to").
const META_KEYS: [&str; 2] = ["file", "from_env"];

/// Keys whose value is a table of free names: one row (`auth.tokens.<name>`) stands for
/// every entry.
const MAP_KEYS: [(&str, &str); 3] = [
    ("auth.tokens", "<name>"),
    ("jobs.queues", "<name>"),
    ("plugins", "<crate>"),
];

/// A product that has every section with only its required keys, so that every other key
/// prints its default.
const EVERY_SECTION: &str = "[email]\nhost = \"smtp.example.com\"\nfrom = \"bot@example.com\"\n\
     to = [\"ops@example.com\"]\n[database]\nurl = \"postgres://app@db.example.com/app\"\n\
     [auth]\n[cors]\n[admin]\n";

/// One row of a configuration table: the key, its default cell.
#[derive(Debug)]
struct Row {
    key: String,
    default: String,
}

/// The rows of every table under "## The configuration file" of docs/operations.md.
fn config_rows(operations: &str) -> Vec<Row> {
    let section = operations
        .split("\n## The configuration file\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap_or("");
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let key = cells.first()?.strip_prefix("| `")?.strip_suffix('`')?;
            Some(Row {
                key: key.to_owned(),
                default: cells.get(1)?.trim().to_owned(),
            })
        })
        .collect()
}

/// The printed configuration as dotted keys and values; a table of free names (`plugins`)
/// becomes its one row's key, holding the whole table.
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    if let Some((_, name)) = MAP_KEYS.iter().find(|(key, _)| *key == prefix) {
        out.insert(format!("{prefix}.{name}"), value.clone());
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                // Not a key of the file; or an absent section (`"email": null`).
                if prefix.is_empty() && (META_KEYS.contains(&key.as_str()) || value.is_null()) {
                    continue;
                }
                let dotted = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&dotted, value, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned(), value.clone());
        }
    }
}

/// The code spans of a table cell: `a` `b` gives a, b.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

fn same(expected: &Value, printed: &Value) -> bool {
    match (expected.as_f64(), printed.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => expected == printed,
    }
}

/// Whether a default cell says what `printed` is: "required" (any value), "none" (null, or
/// an empty table of free names), or one of its code spans, as JSON, after the placeholders
/// are replaced.
fn default_matches(cell: &str, printed: &Value, placeholders: &[(&str, String)]) -> bool {
    if cell.starts_with("required") {
        return !printed.is_null();
    }
    if cell.starts_with("none") {
        return printed.is_null() || printed.as_object().is_some_and(|map| map.is_empty());
    }
    code_spans(cell).iter().any(|span| {
        let mut text = (*span).to_owned();
        for (name, value) in placeholders {
            text = text.replace(name, value);
        }
        serde_json::from_str::<Value>(&text).is_ok_and(|expected| same(&expected, printed))
    })
}

/// Every difference between the tables and the printed configuration: `defaults` is the
/// configuration of [`EVERY_SECTION`] (each key's default), `keys` every key printed in any
/// run. Empty when they agree.
fn differences(
    operations: &str,
    defaults: &BTreeMap<String, Value>,
    keys: &[String],
    placeholders: &[(&str, String)],
) -> Vec<String> {
    let rows = config_rows(operations);
    let mut problems = Vec::new();
    for key in keys {
        if !rows.iter().any(|row| &row.key == key) {
            problems.push(format!("`{key}` is printed but has no row"));
        }
    }
    for row in &rows {
        if rows.iter().filter(|other| other.key == row.key).count() > 1 {
            problems.push(format!("`{}` has two rows", row.key));
        }
        if !keys.contains(&row.key) {
            problems.push(format!("`{}` has a row but is never printed", row.key));
        }
        if let Some(printed) = defaults.get(&row.key) {
            if !default_matches(&row.default, printed, placeholders) {
                problems.push(format!(
                    "`{}`: the row's default `{}` is not what is printed, {printed}",
                    row.key, row.default
                ));
            }
        }
    }
    problems
}

fn config_of(dir: &Path, env: &[(&str, &str)]) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_apiphant"));
    command
        .arg("config")
        .arg(dir)
        .env_remove("APIPHANT_SMTP_PASSWORD")
        .env_remove("APIPHANT_DATABASE_PASSWORD")
        .envs(env.iter().copied());
    let (code, stdout, stderr) = run_within(&mut command, Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: {stdout}"))
}

fn flat(config: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    flatten("", config, &mut out);
    out
}

fn operations_md() -> String {
    std::fs::read_to_string(root().join("docs/operations.md")).expect("docs/operations.md")
}

/// What the tables are checked against: the defaults (a product with every section, no
/// environment), every key printed (that product, with every secret from the environment,
/// and the example product), and the placeholders' values.
struct Printed {
    defaults: BTreeMap<String, Value>,
    keys: Vec<String>,
    placeholders: Vec<(&'static str, String)>,
    _dir: TempDir,
}

fn printed() -> Printed {
    let dir = TempDir::new("docs-config");
    std::fs::write(dir.path().join("apiphant.toml"), EVERY_SECTION).expect("write");
    let config = config_of(dir.path(), &[]);
    let with_secrets = config_of(
        dir.path(),
        &[
            ("APIPHANT_SMTP_PASSWORD", "s3cret"),
            ("APIPHANT_DATABASE_PASSWORD", "s3cret"),
        ],
    );
    let example = config_of(&root(), &[]);
    let defaults = flat(&config);
    let mut keys: Vec<String> = defaults.keys().cloned().collect();
    for other in [flat(&with_secrets), flat(&example)] {
        keys.extend(other.into_keys());
    }
    keys.sort();
    keys.dedup();
    let product = PathBuf::from(config["file"].as_str().expect("file"))
        .parent()
        .expect("product folder")
        .to_path_buf();
    let folder = product
        .file_name()
        .expect("folder name")
        .to_string_lossy()
        .into_owned();
    let name = config["name"].as_str().expect("name").to_owned();
    Printed {
        defaults,
        keys,
        placeholders: vec![
            ("<folder>", folder),
            ("<product>", product.display().to_string()),
            ("<name>", name),
        ],
        _dir: dir,
    }
}

#[test]
fn the_configuration_tables_match_apiphant_config() {
    let printed = printed();
    let problems = differences(
        &operations_md(),
        &printed.defaults,
        &printed.keys,
        &printed.placeholders,
    );
    assert!(
        problems.is_empty(),
        "docs/operations.md, \"The configuration file\", disagrees with `apiphant config`:\n{}",
        problems.join("\n")
    );
    // The check reads every section's table, not just the first.
    assert!(printed.keys.iter().any(|key| key == "plugins.<crate>"));
}

#[test]
fn a_missing_row_a_wrong_default_or_a_stale_row_is_found() {
    let printed = printed();
    let operations = operations_md();
    let check = |text: &str| {
        differences(
            text,
            &printed.defaults,
            &printed.keys,
            &printed.placeholders,
        )
    };
    let row = |key: &str| {
        operations
            .lines()
            .find(|line| line.starts_with(&format!("| `{key}` |")))
            .unwrap_or_else(|| panic!("no row for {key}"))
            .to_owned()
    };

    let removed = operations.replace(&format!("{}\n", row("email.timeout_secs")), "");
    assert_eq!(
        check(&removed),
        ["`email.timeout_secs` is printed but has no row"]
    );

    let blocking = row("server.blocking_threads");
    let wrong = operations.replace(&blocking, &blocking.replace("`16`", "`8`"));
    assert_eq!(check(&wrong).len(), 1, "{:?}", check(&wrong));
    assert!(check(&wrong)[0].contains("server.blocking_threads"));

    let stale = operations.replace(
        &format!("{blocking}\n"),
        &format!("{blocking}\n| `server.threads` | `4` | 1..=8 | gone |\n"),
    );
    assert_eq!(
        check(&stale),
        ["`server.threads` has a row but is never printed"]
    );
}

const README_MAX_LINES: usize = 220;

#[test]
fn the_readme_stays_short() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines (at most {README_MAX_LINES}): move the detail to docs/"
    );
}

/// The Markdown files whose relative links must resolve.
fn linked_docs() -> Vec<PathBuf> {
    let root = root();
    let mut files: Vec<PathBuf> = [
        "README.md",
        "ARCHITECTURE.md",
        "CHANGELOG.md",
        "deploy/README.md",
        "bench/README.md",
    ]
    .iter()
    .map(|file| root.join(file))
    .collect();
    for dir in ["docs", "bench/results"] {
        let entries = std::fs::read_dir(root.join(dir)).expect(dir);
        let mut found: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

/// Markdown outside fenced code blocks, and without inline code spans unless `keep_code`.
fn prose(text: &str, keep_code: bool) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if keep_code && !fenced {
            out.push_str(line);
            out.push('\n');
        } else if !fenced {
            let spans: Vec<&str> = line.split('`').collect();
            for (i, piece) in spans.iter().enumerate() {
                if i % 2 == 0 {
                    out.push_str(piece);
                }
            }
            out.push('\n');
        }
    }
    out
}

/// The targets of `[text](target)` links.
fn link_targets(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|target| target.trim().to_owned())
        .collect()
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens; a
/// repeated heading gets -1, -2, ...
fn anchors(text: &str) -> Vec<String> {
    let (mut bases, mut anchors): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for line in prose(text, true).lines() {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#').trim();
        let slug: String = heading
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let repeats = bases.iter().filter(|base| **base == slug).count();
        anchors.push(if repeats == 0 {
            slug.clone()
        } else {
            format!("{slug}-{repeats}")
        });
        bases.push(slug);
    }
    anchors
}

/// Every relative link of `file` that does not resolve: the file, or its heading.
fn broken_links(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("read");
    let dir = file.parent().expect("folder");
    let mut broken = Vec::new();
    for target in link_targets(&prose(&text, false)) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
        let linked = if path.is_empty() {
            file.to_path_buf()
        } else {
            dir.join(path)
        };
        if !linked.exists() {
            broken.push(format!("{}: {target} (no such file)", file.display()));
            continue;
        }
        if anchor.is_empty() || linked.extension().is_none_or(|ext| ext != "md") {
            continue;
        }
        let linked_text = std::fs::read_to_string(&linked).expect("read");
        if !anchors(&linked_text).iter().any(|a| a == anchor) {
            broken.push(format!("{}: {target} (no such heading)", file.display()));
        }
    }
    broken
}

#[test]
fn every_relative_link_of_the_docs_resolves() {
    let files = linked_docs();
    assert!(files.len() >= 8, "{files:?}");
    let broken: Vec<String> = files.iter().flat_map(|file| broken_links(file)).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn a_broken_link_is_found() {
    let dir = TempDir::new("docs-links");
    std::fs::write(dir.path().join("there.md"), "# A heading (`x`)\n").expect("write");
    let page = dir.path().join("page.md");
    std::fs::write(
        &page,
        "[ok](there.md) [ok](there.md#a-heading-x) [no](gone.md) [no](there.md#b)\n\
         `[in code](gone.md)`\n```\n[fenced](gone.md)\n```\n[web](https://example.com/x)\n",
    )
    .expect("write");
    let broken = broken_links(&page);
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(broken[0].ends_with("gone.md (no such file)"));
    assert!(broken[1].ends_with("there.md#b (no such heading)"));
}
