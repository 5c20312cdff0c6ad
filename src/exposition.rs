//! The one writer of the Prometheus text format (version 0.0.4), shared by the API's
//! `/metrics` (`metrics.rs`) and the background worker's (`background/metrics.rs`):
//! metric families (`# HELP`, `# TYPE`), samples with escaped label values, histograms
//! from per-bucket counts, and the build info both processes report.

use std::fmt::{Display, Write};

/// An exposition being written.
#[derive(Debug, Default)]
pub(crate) struct Exposition {
    out: String,
}

/// A sample's labels, `(name, value)` each; values are escaped when written.
pub(crate) type Labels<'a> = [(&'a str, &'a str)];

/// One histogram's figures: the count in each bucket alone (not cumulative: the writer adds
/// them up), the last one `+Inf`'s; the observations' sum.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Histogram<'a> {
    pub(crate) bounds: &'a [f64],
    pub(crate) counts: &'a [u64],
    pub(crate) sum: f64,
}

impl Exposition {
    pub(crate) fn with_capacity(capacity: usize) -> Exposition {
        Exposition {
            out: String::with_capacity(capacity),
        }
    }

    /// Starts the family `name`: its help and its type (`counter`, `gauge`, `histogram`).
    pub(crate) fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    /// One sample: `name{labels} value`.
    pub(crate) fn sample(
        &mut self,
        name: &str,
        labels: &Labels<'_>,
        value: impl Display,
    ) -> &mut Self {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
        self
    }

    /// A family with one unlabelled sample.
    pub(crate) fn single(&mut self, name: &str, kind: &str, help: &str, value: impl Display) {
        self.family(name, kind, help).sample(name, &[], value);
    }

    /// The samples of one histogram of the family `name` (`_bucket` with `le`, `_sum`,
    /// `_count`).
    pub(crate) fn histogram(&mut self, name: &str, labels: &Labels<'_>, histogram: Histogram<'_>) {
        let mut total = 0;
        for (slot, count) in histogram.counts.iter().enumerate() {
            total += count;
            let bound = histogram
                .bounds
                .get(slot)
                .map_or_else(|| "+Inf".to_owned(), f64::to_string);
            let _ = write!(self.out, "{name}_bucket");
            self.labels(labels, Some(&bound));
            let _ = writeln!(self.out, " {total}");
        }
        let _ = write!(self.out, "{name}_sum");
        self.labels(labels, None);
        let _ = write!(self.out, " {}\n{name}_count", histogram.sum);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {total}");
    }

    /// `apiphant_build_info`: the version, the plugin ABI and the plugins loaded.
    pub(crate) fn build_info(&mut self, plugins: usize) {
        let plugins = plugins.to_string();
        let abi = apiphant_sdk::abi::ABI_VERSION.to_string();
        self.family(
            "apiphant_build_info",
            "gauge",
            "The server's version, plugin ABI and plugins loaded.",
        )
        .sample(
            "apiphant_build_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("abi", &abi),
                ("plugins", &plugins),
            ],
            1,
        );
    }

    /// The text.
    pub(crate) fn finish(self) -> String {
        self.out
    }

    /// `{a="x",b="y"}` (nothing without labels), with `le` last when given.
    fn labels(&mut self, labels: &Labels<'_>, le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let le = le.map(|le| ("le", le));
        for (n, (name, value)) in labels.iter().copied().chain(le).enumerate() {
            if n > 0 {
                self.out.push(',');
            }
            let _ = write!(self.out, "{name}=\"");
            for c in value.chars() {
                match c {
                    '\\' => self.out.push_str("\\\\"),
                    '"' => self.out.push_str("\\\""),
                    '\n' => self.out.push_str("\\n"),
                    c => self.out.push(c),
                }
            }
            self.out.push('"');
        }
        self.out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_histograms_and_escaping() {
        let mut out = Exposition::default();
        out.family("x_total", "counter", "Xs.")
            .sample("x_total", &[("task", "a\"b\\c\nd")], 3)
            .sample("x_total", &[], 1.5);
        out.histogram(
            "d_seconds",
            &[("task", "t")],
            Histogram {
                bounds: &[0.1, 1.0],
                counts: &[1, 2, 3],
                sum: 9.5,
            },
        );
        assert_eq!(
            out.finish(),
            "# HELP x_total Xs.\n# TYPE x_total counter\n\
             x_total{task=\"a\\\"b\\\\c\\nd\"} 3\nx_total 1.5\n\
             d_seconds_bucket{task=\"t\",le=\"0.1\"} 1\n\
             d_seconds_bucket{task=\"t\",le=\"1\"} 3\n\
             d_seconds_bucket{task=\"t\",le=\"+Inf\"} 6\n\
             d_seconds_sum{task=\"t\"} 9.5\nd_seconds_count{task=\"t\"} 6\n"
        );
    }
}
