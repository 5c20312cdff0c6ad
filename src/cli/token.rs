//! `apiphant token new NAME --scope GLOB ...`: makes a token, prints it once with the line
//! to add under `[auth.tokens]` in `apiphant.toml` (which stores only its SHA-256). Nothing
//! is written to a file: the operator copies the token to the client and the line to the
//! configuration.

use crate::auth::new_token;
use crate::config::{glob_error, is_token_name};

/// `apiphant token new`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct NewToken {
    /// The token's name: what the access log and the actions see (never the token).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// What it may call: a glob over `<version>/<target>/<action>`, `*` for any run of
    /// characters (`v1/notes/*`). Repeatable; at least one.
    #[arg(long = "scope", value_name = "GLOB", required = true)]
    pub scopes: Vec<String>,
}

/// The lines `apiphant token new` prints: the token, a comment, the config line.
pub(crate) fn run_new(args: &NewToken) -> Result<String, String> {
    if !is_token_name(&args.name) {
        return Err(format!(
            "token name '{}' may hold only 1 to 64 letters, digits, _, - and .",
            args.name
        ));
    }
    for glob in &args.scopes {
        if let Some(why) = glob_error(glob) {
            return Err(format!("--scope '{glob}' {why}"));
        }
    }
    let (token, hash) =
        new_token().map_err(|error| format!("no random bytes from the OS: {error}"))?;
    let scopes: Vec<String> = args
        .scopes
        .iter()
        .map(|glob| format!("\"{glob}\""))
        .collect();
    Ok(format!(
        "{token}\n\
         # add under [auth.tokens] in apiphant.toml (the token above is shown only now; the file keeps its SHA-256):\n\
         {} = {{ sha256 = \"{hash}\", scopes = [{}] }}",
        args.name,
        scopes.join(", ")
    ))
}
