//! `export!`: the one line a plugin crate needs. Thin `macro_rules!` that build the
//! plugin's table description and the `apiphant_plugin_v2` entry symbol, and check every
//! route and action name at build time (`route.rs`); the logic is in `export.rs`.

/// Exports a plugin's targets and actions, and its background tasks: the one line a crate needs.
///
/// ```
/// use apiphant_sdk::{ApiResult, Object};
/// pub fn read(mut request: Object) -> ApiResult {
///     request.insert("server".into(), "myproduct".into());
///     Ok(request)
/// }
/// apiphant_sdk::export! { "v0/echo" => { read } }
/// ```
///
/// Several targets, another function for an action, and metadata:
/// `apiphant_sdk::export! { "v0/echo" => { read }, "v1/echo" => { read = v1::read, create = action(v1::create).blocking() } }`.
/// Routes are `v<digits>/<target path>`; action names are `create`, `read`, `update`,
/// `delete`: anything else fails to compile (and the server checks both again when it
/// loads the plugin):
///
/// ```compile_fail
/// pub fn read(request: apiphant_sdk::Object) -> apiphant_sdk::ApiResult { Ok(request) }
/// apiphant_sdk::export! { "v0/my target" => { read } }
/// ```
///
/// ```compile_fail
/// pub fn read(request: apiphant_sdk::Object) -> apiphant_sdk::ApiResult { Ok(request) }
/// apiphant_sdk::export! { "v0/echo" => { list = read } }
/// ```
///
/// Background tasks (run by `apiphant-background`) come in a leading `tasks { ... }` block,
/// then an optional `on_error = hook`, then optional `targets { ... }` (the grammar above):
///
/// ```
/// use apiphant_sdk::{every, cron, Failure, TaskResult};
/// pub fn update_something() -> TaskResult { Ok(()) }
/// pub fn nightly() {}
/// pub fn notify(failure: &Failure) -> TaskResult { Ok(()) }
/// apiphant_sdk::export! {
///     tasks { update_something: every(60), nightly: cron("0 3 * * *").run_at_start(false) },
///     on_error = notify,
/// }
/// ```
///
/// Lifecycle hooks, optional, come first: `init = f` runs once when the host loads the
/// plugin, with the product's `[plugins.<crate name>]` table as a JSON object (`{}` when
/// there is none), and may refuse to start; `shutdown = g` runs once before the host lets
/// the plugin go. Both return `()` or `Result<(), E>` for any error `E`:
///
/// ```
/// use apiphant_sdk::{ApiResult, Object, TaskResult};
/// pub fn setup(config: &Object) -> TaskResult {
///     match config.get("greeting") {
///         None | Some(apiphant_sdk::Value::String(_)) => Ok(()),
///         Some(_) => Err("greeting must be a string".into()),
///     }
/// }
/// pub fn goodbye() {}
/// pub fn read(request: Object) -> ApiResult { Ok(request) }
/// apiphant_sdk::export! { init = setup, shutdown = goodbye, "v0/echo" => { read } }
/// ```
#[macro_export]
macro_rules! export {
    ($($input:tt)*) => { $crate::__export_hooks! { [] [] $($input)* } };
}

/// Collects the optional `init = ...` and `shutdown = ...`, then the tasks and targets.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_hooks {
    ([] [$($shutdown:expr)?] init = $init:expr $(, $($rest:tt)*)?) => {
        $crate::__export_hooks! { [$init] [$($shutdown)?] $($($rest)*)? }
    };
    ([$($init:expr)?] [] shutdown = $shutdown:expr $(, $($rest:tt)*)?) => {
        $crate::__export_hooks! { [$($init)?] [$shutdown] $($($rest)*)? }
    };
    ([$($init:expr)?] [$($shutdown:expr)?]
     tasks { $($task:ident : $schedule:expr),* $(,)? }
     $(, on_error = $hook:expr)? $(, targets { $($targets:tt)* })? $(,)?) => {
        $crate::__export_plugin! {
            [$($init)?] [$($shutdown)?]
            [$($crate::__private::Task::new(::std::stringify!($task), $task, $schedule)),*]
            [$($hook)?] $($($targets)*)?
        }
    };
    ([$($init:expr)?] [$($shutdown:expr)?] $($targets:tt)*) => {
        $crate::__export_plugin! { [$($init)?] [$($shutdown)?] [] [] $($targets)* }
    };
}

/// The entry symbol for `export!`: hooks, tasks, optional `on_error`, then the targets.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_plugin {
    ([$($init:expr)?] [$($shutdown:expr)?] [$($task:expr),*] [$($hook:expr)?]
     $($route:literal => { $($name:ident $(= $handler:expr)?),* $(,)? }),* $(,)?) => {
        // Build-time checks of the route grammar (`apiphant_sdk::route`).
        $(
            const _: () = ::std::assert!(
                $crate::route::is_route($route),
                "{}",
                ::std::concat!("export!: route \"", $route,
                    "\" is not v<digits>/<target> (segments of letters, digits, _ and -)")
            );
            $(
                const _: () = ::std::assert!(
                    $crate::route::is_action(::std::stringify!($name)),
                    "{}",
                    ::std::concat!("export!: '", ::std::stringify!($name),
                        "' is not an action name (create, read, update, delete)")
                );
            )*
        )*
        // `#[no_mangle]` counts as `unsafe_code`: this is the ABI's one entry symbol
        // (`apiphant_sdk::abi::ENTRY_SYMBOL`; the name carries the ABI version).
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn apiphant_plugin_v2() -> *const $crate::abi::PluginV2 {
            fn plugin() -> $crate::__private::Plugin {
                $crate::__private::Plugin {
                    crate_name: ::std::env!("CARGO_PKG_NAME"),
                    targets: ::std::vec![$(
                        $crate::__private::Target::new($route, ::std::vec![$((
                            ::std::stringify!($name),
                            $crate::__private::IntoAction::into_action(
                                $crate::__handler!($name $(, $handler)?)
                            ),
                        )),*])
                    ),*],
                    tasks: ::std::vec![$($task),*],
                    on_error: ::std::option::Option::None
                        $(.or(::std::option::Option::Some($hook as $crate::OnError)))?,
                    init: ::std::option::Option::None
                        $(.or(::std::option::Option::Some($crate::__private::Init::new($init))))?,
                    shutdown: ::std::option::Option::None
                        $(.or(::std::option::Option::Some($crate::__private::Shutdown::new($shutdown))))?,
                }
            }
            $crate::__private::entry(plugin)
        }
    };
}

/// Picks the handler: the explicit expression, or the function named like the action.
#[doc(hidden)]
#[macro_export]
macro_rules! __handler {
    ($name:ident) => {
        $name
    };
    ($name:ident, $handler:expr) => {
        $handler
    };
}
