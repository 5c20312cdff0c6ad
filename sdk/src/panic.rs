//! Panic reports for the host's log: the hook a plugin installs (its own copy of std has its
//! own hook, so the host's is untouched) keeps the message, the location and the plugin's
//! own frames of the backtrace, for the glue to hand over as `OUTCOME_PANIC`.

use std::cell::RefCell;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The report the hook kept for the panic being caught on this thread, or the payload's text.
pub(crate) fn take_report(payload: &(dyn std::any::Any + Send)) -> String {
    LAST_PANIC
        .with(|last| last.borrow_mut().take())
        .unwrap_or_else(|| panic_text(payload))
}

/// The panic hook.
pub(crate) fn remember(info: &std::panic::PanicHookInfo<'_>) {
    let message = panic_text(info.payload());
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_else(|| "unknown location".to_owned());
    let backtrace = std::backtrace::Backtrace::force_capture().to_string();
    // As std: `RUST_BACKTRACE=full` keeps every frame.
    let backtrace = match std::env::var("RUST_BACKTRACE").as_deref() {
        Ok("full") => backtrace,
        _ => short_backtrace(&backtrace),
    };
    let report = format!("panicked at {location}:\n{message}\nstack backtrace:\n{backtrace}");
    if crate::call::current().is_some() {
        LAST_PANIC.with(|last| *last.borrow_mut() = Some(report));
    } else {
        eprintln!("plugin thread {report}");
    }
}

/// The plugin's own frames of a panic backtrace: those between the panic machinery
/// (`core::panicking`, the hook) and this glue's `run`, as std's short backtraces do. The
/// whole backtrace when its frames have no names (a stripped library) or the shape is new.
fn short_backtrace(full: &str) -> String {
    let mut frames: Vec<Vec<&str>> = Vec::new();
    for line in full.lines() {
        let head = line
            .trim_start()
            .split_once(": ")
            .is_some_and(|(number, _)| {
                !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
            });
        match frames.last_mut() {
            Some(frame) if !head => frame.push(line),
            _ => frames.push(vec![line]),
        }
    }
    let name = |frame: &Vec<&str>| {
        let head = frame.first().map_or("", |line| line.trim_start());
        head.split_once(": ")
            .map_or("", |(_, name)| name)
            .to_owned()
    };
    let panic_frame = |frame: &Vec<&str>| {
        let name = name(frame);
        name.contains("core::panicking::") || name.contains("rust_begin_unwind")
    };
    let Some(start) = frames.iter().rposition(panic_frame).map(|i| i + 1) else {
        return full.to_owned();
    };
    let Some(mut end) = frames
        .iter()
        .position(|frame| name(frame).starts_with("apiphant_sdk::export::run"))
    else {
        return full.to_owned();
    };
    let glue = [
        "apiphant_sdk::",
        "<alloc::boxed::Box",
        "core::ops::function::",
    ];
    while end > start && glue.iter().any(|g| name(&frames[end - 1]).starts_with(g)) {
        end -= 1;
    }
    if end <= start {
        return full.to_owned();
    }
    let mut short: Vec<&str> = frames[start..end].iter().flatten().copied().collect();
    short.push("note: frames of the panic machinery and of apiphant are omitted.");
    short.join("\n")
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_backtraces_keep_the_plugins_frames() {
        let full = "   0: apiphant_sdk::export::remember_panic\n             at ./sdk/src/export.rs:298:21\n   7: core::panicking::panic_fmt\n             at /rustc/x/library/core/src/panicking.rs:80:14\n   8: fixture_ticker::explode\n             at ./tests/fixtures/ticker/src/lib.rs:17:9\n   9: apiphant_sdk::task::Task::new::{{closure}}\n             at ./sdk/src/task.rs:112:35\n  10: <alloc::boxed::Box<F,A> as core::ops::function::Fn<Args>>::call\n  11: apiphant_sdk::export::run_task\n  12: apiphant_sdk::export::run\n  21: apiphant::plugin::ffi::Library::call\n";
        let short = short_backtrace(full);
        assert!(short.starts_with("   8: fixture_ticker::explode\n             at ./tests/fixtures/ticker/src/lib.rs:17:9\n"), "{short}");
        assert!(
            !short.contains("Task::new") && !short.contains("ffi"),
            "{short}"
        );
        let stripped = "   0: <unknown>\n   1: <unknown>\n";
        assert_eq!(short_backtrace(stripped), stripped);
    }
}
