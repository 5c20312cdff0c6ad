//! `apiphant new PATH`: writes a new product outside this repository (a Cargo workspace,
//! `apiphant.toml`, a typed example target with its unit test, a background task, a
//! functional suite, `.gitignore`, a README and this checkout's `Cargo.lock` as its first
//! lock file); `apiphant new --target ROUTE [PRODUCT]` adds a target crate to a product.
//! The templates are the files under `src/cli/new/`. The product depends on the SDK (and
//! on apiphant, for its functional suite) by the path of the checkout this binary was
//! built from, or `--apiphant DIR`: no registry is needed.

use apiphant_sdk::route::check_route;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// `apiphant new`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct NewArgs {
    /// The new product's folder (made; it must not exist, or be empty). With --target: the
    /// existing product (default: .).
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// Add a target crate serving this route (v1/notes) to the product at PATH instead.
    #[arg(long, value_name = "ROUTE")]
    pub target: Option<String>,
    /// The apiphant checkout (the folder of its Cargo.toml) the product depends on by path
    /// [default: the checkout this binary was built from].
    #[arg(long, value_name = "DIR")]
    pub apiphant: Option<PathBuf>,
}

/// The example target `apiphant new PATH` writes.
const EXAMPLE_ROUTE: &str = "v0/hello";

const WORKSPACE: &str = include_str!("new/workspace.Cargo.toml");
const CONFIG: &str = include_str!("new/apiphant.toml");
const GITIGNORE: &str = include_str!("new/gitignore");
const README: &str = include_str!("new/README.md");
const TARGET_MANIFEST: &str = include_str!("new/target.Cargo.toml");
const TARGET_LIB: &str = include_str!("new/target.lib.rs");
const TASKS_MANIFEST: &str = include_str!("new/tasks.Cargo.toml");
const TASKS_LIB: &str = include_str!("new/tasks.lib.rs");
const FUNCTIONAL_MANIFEST: &str = include_str!("new/functional.Cargo.toml");
const FUNCTIONAL_MAIN: &str = include_str!("new/functional.main.rs");

/// Runs `apiphant new`; the answer is what to print (the files made and what to run next).
pub fn run(args: &NewArgs) -> Result<String, String> {
    match &args.target {
        Some(route) => {
            let product = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
            add_target(&product, route)
        }
        None => {
            let path = args.path.as_deref().ok_or(
                "apiphant new needs the new product's folder: apiphant new PATH (or --target ROUTE to add a target to a product)",
            )?;
            new_product(path, args.apiphant.as_deref())
        }
    }
}

/// Writes a new product at `path`.
fn new_product(path: &Path, checkout: Option<&Path>) -> Result<String, String> {
    let name = product_name(path)?;
    crate_name(&name).map_err(|why| {
        format!(
            "cannot make a product named '{name}' (from {}): {why}",
            path.display()
        )
    })?;
    if fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(format!(
            "'{}' exists and is not empty: apiphant new makes a new folder (pick another PATH, or empty it)",
            path.display()
        ));
    }
    if path.exists() && !path.is_dir() {
        return Err(format!(
            "'{}' exists and is not a folder: pick another PATH",
            path.display()
        ));
    }
    let checkout = checkout_dir(checkout)?;
    let lock = checkout.join("Cargo.lock");
    let lock = fs::read_to_string(&lock)
        .map_err(|error| format!("cannot read '{}': {error}", lock.display()))?;
    let fill = |template: &str| {
        template
            .replace("{{product}}", &name)
            .replace("{{checkout}}", &checkout.display().to_string())
            .replace("{{sdk_path}}", &toml_string(&checkout.join("sdk")))
            .replace("{{apiphant_path}}", &toml_string(&checkout))
    };
    let files = [
        ("Cargo.toml", fill(WORKSPACE)),
        ("Cargo.lock", lock),
        ("apiphant.toml", fill(CONFIG)),
        (".gitignore", fill(GITIGNORE)),
        ("README.md", fill(README)),
        ("plugins/tasks/Cargo.toml", fill(TASKS_MANIFEST)),
        ("plugins/tasks/src/lib.rs", fill(TASKS_LIB)),
        ("functional/Cargo.toml", fill(FUNCTIONAL_MANIFEST)),
        ("functional/src/main.rs", fill(FUNCTIONAL_MAIN)),
    ];
    let mut made = write_files(path, &files)?;
    made.push_str(&target_files(path, EXAMPLE_ROUTE)?);
    let path = path.display();
    let _ = write!(
        made,
        "made the product '{name}' in {path}, on the apiphant checkout {}\n\
         serve it:  cargo run --release --manifest-path {}/Cargo.toml -- {path} 127.0.0.1:8080\n\
         then:      curl -X POST http://127.0.0.1:8080/api/{EXAMPLE_ROUTE}/read -d '{{\"name\": \"Ada\"}}'",
        checkout.display(),
        checkout.display(),
    );
    Ok(made)
}

/// Adds the crate of a target serving `route` to the product at `product`.
fn add_target(product: &Path, route: &str) -> Result<String, String> {
    let manifest = product.join("Cargo.toml");
    let workspace = fs::read_to_string(&manifest).unwrap_or_default();
    if !product.join(crate::config::CONFIG_FILE).is_file() || !workspace.contains("[workspace]") {
        return Err(format!(
            "'{}' is not a source product (no apiphant.toml, or no [workspace] in Cargo.toml): make one with apiphant new PATH, or pass the product's folder",
            product.display()
        ));
    }
    let mut made = target_files(product, route)?;
    let _ = write!(
        made,
        "added the target {route}: restart the server to serve POST /api/{route}/read"
    );
    Ok(made)
}

/// Writes `plugins/<crate>/` for `route`; the crate's name is the route's target
/// segments joined with `-` (`v1/users/profile`: `users-profile`).
fn target_files(product: &Path, route: &str) -> Result<String, String> {
    check_route(route).map_err(|error| {
        format!(
            "'{route}' is not a route like v1/notes: {}",
            error.message(route)
        )
    })?;
    let name = route.split('/').skip(1).collect::<Vec<_>>().join("-");
    crate_name(&name).map_err(|why| {
        format!("the route {route} would make a crate named '{name}': {why}; pick another route")
    })?;
    if OWN_CRATES.contains(&name.as_str()) {
        return Err(format!(
            "the route {route} would make a crate named '{name}', the name of one of the product's own crates: pick another route"
        ));
    }
    let dir = Path::new("plugins").join(&name);
    if product.join(&dir).exists() {
        return Err(format!(
            "'{}' exists already: pick another route, or remove that crate",
            product.join(&dir).display()
        ));
    }
    let fill = |template: &str| {
        template
            .replace("{{route}}", route)
            .replace("{{crate}}", &name)
    };
    write_files(
        product,
        &[
            (
                &dir.join("Cargo.toml").to_string_lossy(),
                fill(TARGET_MANIFEST),
            ),
            (&dir.join("src/lib.rs").to_string_lossy(), fill(TARGET_LIB)),
        ],
    )
}

/// Writes each `(relative path, text)` under `root`; answers one `wrote PATH` line each.
fn write_files<S: AsRef<str>>(root: &Path, files: &[(S, String)]) -> Result<String, String> {
    let mut made = String::new();
    for (relative, text) in files {
        let file = root.join(relative.as_ref());
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent)
                .map_err(|error| format!("cannot make '{}': {error}", parent.display()))?;
        }
        fs::write(&file, text)
            .map_err(|error| format!("cannot write '{}': {error}", file.display()))?;
        let _ = writeln!(made, "wrote {}", file.display());
    }
    Ok(made)
}

/// The product's name: the last component of `path` (of its absolute form for `.`).
fn product_name(path: &Path) -> Result<String, String> {
    let absolute = std::path::absolute(path)
        .map_err(|error| format!("cannot resolve '{}': {error}", path.display()))?;
    let absolute = fs::canonicalize(&absolute).unwrap_or(absolute);
    absolute
        .file_name()
        .and_then(|name| name.to_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "'{}' names no folder (apiphant new PATH: the new product's folder)",
                path.display()
            )
        })
}

/// The apiphant checkout the product will depend on: `DIR`, else the one this binary
/// was built from; it must hold apiphant's Cargo.toml, Cargo.lock and sdk/.
fn checkout_dir(given: Option<&Path>) -> Result<PathBuf, String> {
    let (dir, whence) = match given {
        Some(dir) => (dir.to_path_buf(), "--apiphant"),
        None => (
            PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            "the checkout this apiphant was built from",
        ),
    };
    let complete = ["Cargo.toml", "Cargo.lock", "sdk/Cargo.toml"]
        .iter()
        .all(|file| dir.join(file).is_file());
    if !complete {
        return Err(format!(
            "'{}' ({whence}) is not an apiphant checkout (no Cargo.toml, Cargo.lock and sdk/ there; moved?): pass --apiphant DIR, the folder of apiphant's Cargo.toml",
            dir.display()
        ));
    }
    fs::canonicalize(&dir).map_err(|error| format!("cannot resolve '{}': {error}", dir.display()))
}

/// `path` as a TOML string (quoted, escaped).
fn toml_string(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

/// The crates of the product's workspace besides its targets.
const OWN_CRATES: &[&str] = &["tasks", "functional", "apiphant", "apiphant-sdk"];

/// Rust's keywords (strict and reserved), which cargo refuses as crate names.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Names cargo refuses or that shadow a standard crate.
const RESERVED_CRATES: &[&str] = &["core", "std", "alloc", "proc_macro", "proc-macro", "test"];

/// Whether `name` is a valid crate name, as cargo checks it (`cargo new`): why not.
pub fn crate_name(name: &str) -> Result<(), String> {
    let Some(first) = name.chars().next() else {
        return Err("a crate name cannot be empty".to_owned());
    };
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "'{bad}' is not allowed in a crate name (ASCII letters, digits, _ and -)"
        ));
    }
    if !first.is_ascii_alphabetic() {
        return Err("a crate name starts with a letter".to_owned());
    }
    if name.len() > 64 {
        return Err("a crate name has at most 64 characters".to_owned());
    }
    let underscored = name.replace('-', "_");
    if KEYWORDS.contains(&name) || RESERVED_CRATES.contains(&underscored.as_str()) {
        return Err(format!("'{name}' is a Rust keyword or a standard crate"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_as_cargo_checks_them() {
        for good in ["shop", "my-shop", "my_shop2", "A"] {
            assert_eq!(crate_name(good), Ok(()), "{good}");
        }
        for bad in ["", "2shop", "my shop", "ü", "fn", "test", "std", "a.b"] {
            assert!(crate_name(bad).is_err(), "{bad}");
        }
    }
}
