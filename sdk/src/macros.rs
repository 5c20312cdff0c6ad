//! `export!`: the one line a plugin crate needs. Thin `macro_rules!` that build the
//! plugin's table description and the `apiphant_plugin` entry symbol; the logic is in
//! `export.rs`.

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
/// `delete`. The server checks both when it loads the plugin.
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
#[macro_export]
macro_rules! export {
    (tasks { $($task:ident : $schedule:expr),* $(,)? }
     $(, on_error = $hook:expr)? $(, targets { $($targets:tt)* })? $(,)?) => {
        $crate::__export_plugin! {
            [$($crate::__private::Task::new(::std::stringify!($task), $task, $schedule)),*]
            [$($hook)?] $($($targets)*)?
        }
    };
    ($($targets:tt)*) => { $crate::__export_plugin! { [] [] $($targets)* } };
}

/// The entry symbol for `export!`: tasks, optional hook, then the targets' grammar.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_plugin {
    ([$($task:expr),*] [$($hook:expr)?]
     $($route:literal => { $($name:ident $(= $handler:expr)?),* $(,)? }),* $(,)?) => {
        // `#[no_mangle]` counts as `unsafe_code`: this is the ABI's one entry symbol.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn apiphant_plugin() -> *const $crate::abi::PluginV1 {
            fn plugin() -> $crate::__private::Plugin {
                $crate::__private::Plugin {
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
