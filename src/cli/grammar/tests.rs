//! Unit tests of the command-line grammar: the default command, each command, the old
//! flags, command names never read as folders, bad addresses, `new`.

use super::*;
use std::path::Path;

fn plan(args: &[&str]) -> Plan {
    let mut argv = vec!["apiphant"];
    argv.extend_from_slice(args);
    match parse(argv) {
        Ok(plan) => plan,
        Err(Refused::Clap(error)) => panic!("{args:?}: {error}"),
        Err(Refused::Reserved(why)) => panic!("{args:?}: {why}"),
    }
}

fn refused(args: &[&str]) -> Refused {
    let mut argv = vec!["apiphant"];
    argv.extend_from_slice(args);
    match parse(argv) {
        Ok(plan) => panic!("{args:?} accepted: {plan:?}"),
        Err(refused) => refused,
    }
}

#[test]
fn serve_is_the_default() {
    let Plan::Serve(serve) = plan(&[]) else {
        panic!("not serve")
    };
    assert_eq!(serve.product.product, Path::new("."));
    assert_eq!(serve.addr.to_string(), "127.0.0.1:8001");
    let Plan::Serve(serve) = plan(&[
        "shop",
        "127.0.0.1:0",
        "--no-build",
        "--debug-plugins",
        "--plugin",
        "a.so",
        "--plugin",
        "b.so",
    ]) else {
        panic!("not serve")
    };
    assert_eq!(serve.product.product, Path::new("shop"));
    assert_eq!(serve.addr.port(), 0);
    assert!(serve.product.no_build && serve.product.debug_plugins);
    assert_eq!(serve.product.plugins.len(), 2);
    // Flags before the folder, as the deploy's supervisor.conf writes them.
    let Plan::Serve(serve) = plan(&["--no-build", "/srv/shop", "[::1]:8002"]) else {
        panic!("not serve")
    };
    assert_eq!(serve.product.product, Path::new("/srv/shop"));
    assert_eq!(serve.addr.to_string(), "[::1]:8002");
}

#[test]
fn explicit_serve() {
    let Plan::Serve(serve) = plan(&["serve", "shop", "0.0.0.0:9000", "--debug-plugins"]) else {
        panic!("not serve")
    };
    assert_eq!(serve.product.product, Path::new("shop"));
    assert_eq!(serve.addr.port(), 9000);
    assert!(serve.product.debug_plugins);
}

#[test]
fn check_plugins_and_config_commands_and_their_old_flags() {
    for args in [
        &["check", "shop", "--no-build"][..],
        &["shop", "--check", "--no-build"],
        &["serve", "shop", "--check", "--no-build"],
    ] {
        let Plan::Check(product) = plan(args) else {
            panic!("{args:?}: not check")
        };
        assert_eq!(product.product, Path::new("shop"), "{args:?}");
        assert!(product.no_build, "{args:?}");
    }
    for args in [
        &["plugins", "shop", "--debug-plugins"][..],
        &["shop", "--list-plugins", "--debug-plugins"],
    ] {
        let Plan::Plugins(product) = plan(args) else {
            panic!("{args:?}: not plugins")
        };
        assert!(product.debug_plugins, "{args:?}");
    }
    for args in [
        &["config", "shop"][..],
        &["shop", "--print-config"],
        &["serve", "shop", "127.0.0.1:1", "--print-config"],
    ] {
        let Plan::Config(config) = plan(args) else {
            panic!("{args:?}: not config")
        };
        assert_eq!(config.product, Path::new("shop"), "{args:?}");
        assert!(config.get.is_empty());
    }
    let Plan::Config(config) = plan(&["config", "--get", "name", "--get", "server.workers"]) else {
        panic!("not config")
    };
    assert_eq!(config.product, Path::new("."));
    assert_eq!(config.get, ["name", "server.workers"]);
    // A command after serve's own arguments is not a command: `check` is no address.
    assert!(matches!(refused(&["shop", "check"]), Refused::Clap(_)));
    assert!(matches!(
        refused(&["shop", "--check", "--list-plugins"]),
        Refused::Clap(_)
    ));
}

#[test]
fn command_names_are_never_a_product_folder() {
    for args in [
        &["--no-build", "check"][..],
        &["--no-build", "new"],
        &["serve", "new"],
        &["check", "new"],
        &["config", "new"],
        &["serve", "config"],
        &["config", "plugins"],
        &["serve", "token"],
    ] {
        let Refused::Reserved(why) = refused(args) else {
            panic!("{args:?}: not refused as a command name")
        };
        assert!(why.contains("is a command, not a product folder"), "{why}");
    }
    let Plan::Serve(serve) = plan(&["./new"]) else {
        panic!("not serve")
    };
    assert_eq!(serve.product.product, Path::new("./new"));
}

#[test]
fn bad_addresses_and_unknown_flags() {
    for args in [
        &["shop", "localhost"][..],
        &["shop", "127.0.0.1:99999"],
        &["serve", "shop", "nowhere"],
        &["shop", "--bogus"],
        &["check", "shop", "127.0.0.1:1"],
    ] {
        assert!(matches!(refused(args), Refused::Clap(_)), "{args:?}");
    }
    let Refused::Clap(error) = refused(&["shop", "localhost"]) else {
        panic!("not clap")
    };
    assert!(error.to_string().contains("is not HOST:PORT"), "{error}");
}

#[test]
fn help_lists_the_commands_and_version_answers() {
    let Refused::Clap(help) = refused(&["--help"]) else {
        panic!("not clap")
    };
    assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
    let text = help.to_string();
    for word in [
        "serve",
        "check",
        "plugins",
        "config",
        "[HOST:PORT]",
        "--no-build",
        "--print-config",
        "new",
        "openapi",
        "token",
    ] {
        assert!(text.contains(word), "{word} not in:\n{text}");
    }
    let Refused::Clap(version) = refused(&["--version"]) else {
        panic!("not clap")
    };
    assert_eq!(version.kind(), clap::error::ErrorKind::DisplayVersion);
}

#[test]
fn addresses() {
    assert_eq!(
        parse_addr("127.0.0.1:8001").ok(),
        "127.0.0.1:8001".parse().ok()
    );
    assert_eq!(parse_addr("[::1]:8001").ok(), "[::1]:8001".parse().ok());
    assert_eq!(parse_addr("::1:8001").ok(), "[::1]:8001".parse().ok());
    assert!(parse_addr("127.0.0.1").is_err());
    assert!(parse_addr("127.0.0.1:99999").is_err());
}

#[test]
fn token_new_takes_a_name_and_one_scope_or_more() {
    let Plan::Token(token) = plan(&[
        "token",
        "new",
        "alice",
        "--scope",
        "v1/notes/*",
        "--scope",
        "v0/*",
    ]) else {
        panic!("not token new")
    };
    assert_eq!(token.name, "alice");
    assert_eq!(token.scopes, ["v1/notes/*", "v0/*"]);
    for args in [
        &["token", "new", "alice"][..],
        &["token", "new"],
        &["token"],
        &["token", "old", "alice", "--scope", "*"],
    ] {
        assert!(matches!(refused(args), Refused::Clap(_)), "{args:?}");
    }
}

#[test]
fn new_takes_a_folder_or_a_target_route() {
    let Plan::New(new) = plan(&["new", "shop"]) else {
        panic!("not new")
    };
    assert_eq!(new.path.as_deref(), Some(Path::new("shop")));
    assert!(new.target.is_none());
    let Plan::New(new) = plan(&["new", "--target", "v1/notes"]) else {
        panic!("not new")
    };
    assert_eq!(new.target.as_deref(), Some("v1/notes"));
    assert!(new.path.is_none());
    assert!(matches!(refused(&["new", "a", "b"]), Refused::Clap(_)));
}
