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
/// The same action twice in one route (or the same route and action in two blocks) fails
/// to compile too:
///
/// ```compile_fail
/// pub fn read(request: apiphant_sdk::Object) -> apiphant_sdk::ApiResult { Ok(request) }
/// apiphant_sdk::export! { "v0/echo" => { read, read = read } }
/// ```
///
/// Background tasks (run by `apiphant-background`) come in a `tasks { ... }` block, with an
/// optional `on_error = hook`; targets may also be wrapped in `targets { ... }`:
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
/// Lifecycle hooks, optional: `init = f` runs once when the host loads the plugin, with the
/// product's `[plugins.<crate name>]` table as a JSON object (`{}` when there is none), and
/// may refuse to start; `shutdown = g` runs once before the host lets the plugin go. Both
/// return `()` or `Result<(), E>` for any error `E`:
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
///
/// The `authorize` hook, optional: `authorize = check` (or `authorizer(check).blocking()`)
/// receives a request's head before its body is read and returns the caller's identity and
/// the routes they may call, or a refusal (401 / 403); the product names the plugin in
/// `[auth] authorize = "<crate>"` (docs/protocol.md, "The authorize hook"):
///
/// ```
/// use apiphant_sdk::{authorizer, AuthorizeResult, Identity, Refusal, RequestHead};
/// pub fn check(head: &RequestHead<'_>) -> AuthorizeResult {
///     match head.bearer() {
///         Some("let-me-in") => Ok(Identity::new("guest", ["v0/*"])),
///         Some(_) => Err(Refusal::Forbidden),
///         None => Err(Refusal::Unauthorized),
///     }
/// }
/// apiphant_sdk::export! { authorize = authorizer(check).blocking() }
/// ```
///
/// The items (`init = ..`, `shutdown = ..`, `authorize = ..`, `tasks { .. }`, `on_error = ..`,
/// `targets { .. }` and `"route" => { .. }`) come in any order, separated by commas; each
/// hook at most once:
///
/// ```
/// use apiphant_sdk::{every, ApiResult, Object, TaskResult};
/// pub fn read(request: Object) -> ApiResult { Ok(request) }
/// pub fn tick() {}
/// pub fn setup(_config: &Object) -> TaskResult { Ok(()) }
/// apiphant_sdk::export! {
///     "v0/echo" => { read },
///     tasks { tick: every(60) },
///     init = setup,
///     targets { "v1/echo" => { read } },
/// }
/// ```
///
/// ```compile_fail
/// pub fn setup(_config: &apiphant_sdk::Object) {}
/// apiphant_sdk::export! { init = setup, init = setup }
/// ```
#[macro_export]
macro_rules! export {
    ($($input:tt)*) => { $crate::__export_items! { [] [] [] [] [] [] $($input)* } };
}

/// Collects `export!`'s items in any order: `[authorize] [init] [shutdown] [tasks]
/// [on_error] [targets]`, then emits the plugin.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_items {
    // Done.
    ([$($auth:expr)?] [$($init:expr)?] [$($shutdown:expr)?] [$($tasks:tt)*] [$($hook:expr)?] [$($targets:tt)*] $(,)?) => {
        $crate::__export_plugin! {
            [$($auth)?] [$($init)?] [$($shutdown)?] [$($tasks)*] [$($hook)?] $($targets)*
        }
    };
    // Each item once.
    ([$a:tt] $i:tt $s:tt $t:tt $h:tt $r:tt $(,)? authorize = $($rest:tt)*) => {
        ::std::compile_error!("export!: `authorize = ...` is given twice (one authorize hook per plugin)");
    };
    ($a:tt [$i:tt] $s:tt $t:tt $h:tt $r:tt $(,)? init = $($rest:tt)*) => {
        ::std::compile_error!("export!: `init = ...` is given twice (one init hook per plugin)");
    };
    ($a:tt $i:tt [$s:tt] $t:tt $h:tt $r:tt $(,)? shutdown = $($rest:tt)*) => {
        ::std::compile_error!("export!: `shutdown = ...` is given twice (one shutdown hook per plugin)");
    };
    ($a:tt $i:tt $s:tt $t:tt [$h:tt] $r:tt $(,)? on_error = $($rest:tt)*) => {
        ::std::compile_error!("export!: `on_error = ...` is given twice (one on_error hook per plugin)");
    };
    ($a:tt $i:tt $s:tt [$($t:tt)+] $h:tt $r:tt $(,)? tasks { $($rest:tt)* } $($more:tt)*) => {
        ::std::compile_error!("export!: `tasks { ... }` is given twice (list every task in one block)");
    };
    ([] $i:tt $s:tt $t:tt $h:tt $r:tt $(,)? authorize = $auth:expr $(, $($rest:tt)*)?) => {
        $crate::__export_items! { [$auth] $i $s $t $h $r $($($rest)*)? }
    };
    ($a:tt [] $s:tt $t:tt $h:tt $r:tt $(,)? init = $init:expr $(, $($rest:tt)*)?) => {
        $crate::__export_items! { $a [$init] $s $t $h $r $($($rest)*)? }
    };
    ($a:tt $i:tt [] $t:tt $h:tt $r:tt $(,)? shutdown = $shutdown:expr $(, $($rest:tt)*)?) => {
        $crate::__export_items! { $a $i [$shutdown] $t $h $r $($($rest)*)? }
    };
    ($a:tt $i:tt $s:tt $t:tt [] $r:tt $(,)? on_error = $hook:expr $(, $($rest:tt)*)?) => {
        $crate::__export_items! { $a $i $s $t [$hook] $r $($($rest)*)? }
    };
    ($a:tt $i:tt $s:tt [] $h:tt $r:tt $(,)? tasks { $($task:ident : $schedule:expr),* $(,)? } $($rest:tt)*) => {
        $crate::__export_items! {
            $a $i $s [$(($task, $schedule))*] $h $r $($rest)*
        }
    };
    ($a:tt $i:tt $s:tt $t:tt $h:tt [$($r:tt)*] $(,)? targets { $($targets:tt)* } $($rest:tt)*) => {
        $crate::__export_items! { $a $i $s $t $h [$($r)* $($targets)* ,] $($rest)* }
    };
    ($a:tt $i:tt $s:tt $t:tt $h:tt [$($r:tt)*] $(,)? $route:literal => { $($actions:tt)* } $($rest:tt)*) => {
        $crate::__export_items! { $a $i $s $t $h [$($r)* $route => { $($actions)* } ,] $($rest)* }
    };
    ($a:tt $i:tt $s:tt $t:tt $h:tt $r:tt $(,)? $other:tt $($rest:tt)*) => {
        ::std::compile_error!(::std::concat!(
            "export!: unexpected `", ::std::stringify!($other),
            "`: expected `init = f`, `shutdown = f`, `authorize = f`, `tasks { name: every(60), .. }`, `on_error = f`, ",
            "`targets { .. }` or `\"v0/route\" => { read, .. }`, in any order, separated by commas"
        ));
    };
}

/// The entry symbol for `export!`: hooks, tasks, optional `on_error`, then the targets.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_plugin {
    ([$($auth:expr)?] [$($init:expr)?] [$($shutdown:expr)?] [$(($task:ident, $schedule:expr))*] [$($hook:expr)?]
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
        const _: () = ::std::assert!(
            $crate::route::all_distinct(&[$($(::std::concat!($route, " ", ::std::stringify!($name))),*),*]),
            "export!: an action is listed twice for one route (each route lists each of create, read, update, delete at most once)"
        );
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
                    tasks: ::std::vec![$(
                        $crate::__private::Task::new(::std::stringify!($task), $task, $schedule)
                    ),*],
                    on_error: ::std::option::Option::None
                        $(.or(::std::option::Option::Some($hook as $crate::OnError)))?,
                    init: ::std::option::Option::None
                        $(.or(::std::option::Option::Some($crate::__private::Init::new($init))))?,
                    shutdown: ::std::option::Option::None
                        $(.or(::std::option::Option::Some($crate::__private::Shutdown::new($shutdown))))?,
                    authorize: ::std::option::Option::None
                        $(.or(::std::option::Option::Some($crate::__private::IntoAuthorize::into_authorize($auth))))?,
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
