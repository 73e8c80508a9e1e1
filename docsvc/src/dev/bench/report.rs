//! What `docsvc bench` measured: figures (with the reference measured in the same run and the
//! ratio to it, since the machine is noisy), series for plots, and their renderings as
//! Markdown, JSON and SVG.

use std::fmt::Write as _;

use serde::Serialize;

/// One measured figure: the median of its runs (each after a warm-up run that does not
/// count), their spread, and the reference measured in the same run where one exists.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub what: String,
    /// The median of the runs.
    pub value: f64,
    pub unit: String,
    pub runs: usize,
    pub min: f64,
    pub max: f64,
    pub reference: Option<String>,
    /// The reference's median, over as many runs.
    pub reference_value: Option<f64>,
    /// `value / reference_value` (both in the same unit, higher is better).
    pub ratio: Option<f64>,
    /// What explains the figure (batch sizes, fsyncs per request, peak RSS, which core did
    /// what).
    pub notes: Vec<String>,
}

/// The median, minimum and maximum of `samples` (0 for none).
pub(super) fn spread(samples: &[f64]) -> (f64, f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    };
    (median, v[0], v[n - 1])
}

/// Points of one measured curve.
#[derive(Clone, Debug, Serialize)]
pub struct Series {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Written into the SVG's file name.
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Collects the figures while printing each line as it is measured.
pub struct Report<'a> {
    print: &'a mut dyn FnMut(&str),
    pub figures: Vec<Figure>,
    pub series: Vec<Series>,
}

impl std::fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Report")
            .field("figures", &self.figures.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Report<'a> {
    pub fn new(print: &'a mut dyn FnMut(&str)) -> Self {
        Report {
            print,
            figures: Vec::new(),
            series: Vec::new(),
        }
    }

    pub fn line(&mut self, text: &str) {
        (self.print)(text);
    }

    /// A figure from its runs' `samples`.
    pub fn figure(&mut self, what: &str, samples: &[f64], unit: &str) {
        let (value, min, max) = spread(samples);
        self.figures.push(Figure {
            what: what.into(),
            value,
            unit: unit.into(),
            runs: samples.len(),
            min,
            max,
            reference: None,
            reference_value: None,
            ratio: None,
            notes: Vec::new(),
        });
    }

    /// A figure beside its reference, both from runs in the same bench run.
    pub fn compared(
        &mut self,
        what: &str,
        samples: &[f64],
        unit: &str,
        reference: &str,
        reference_samples: &[f64],
    ) {
        self.figure(what, samples, unit);
        let (reference_value, ..) = spread(reference_samples);
        if let Some(f) = self.figures.last_mut() {
            f.reference = Some(reference.into());
            f.reference_value = Some(reference_value);
            f.ratio = (reference_value > 0.0).then(|| f.value / reference_value);
        }
    }

    /// Adds what explains the last figure.
    pub fn note(&mut self, text: &str) {
        if let Some(f) = self.figures.last_mut() {
            f.notes.push(text.into());
        }
    }

    pub fn series(&mut self, s: Series) {
        self.series.push(s);
    }

    /// The figures as a Markdown table, with the machine and date.
    pub fn markdown(&self, machine: &str) -> String {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "# docsvc bench\n\n{machine}\n\nEach figure is the median of its runs, each after a \
             warm-up run that does not count; a run with any error fails the bench. References \
             are measured in the same bench run, over as many runs.\n"
        );
        let _ = writeln!(
            md,
            "| figure | median | min – max (runs) | reference (same run, median) | ratio | explained by |"
        );
        let _ = writeln!(md, "| --- | ---: | ---: | --- | ---: | --- |");
        for f in &self.figures {
            let reference = match (&f.reference, f.reference_value) {
                (Some(r), Some(v)) => format!("{r}: {} {}", number(v), f.unit),
                _ => "—".into(),
            };
            let ratio = f.ratio.map_or_else(|| "—".into(), |r| format!("{r:.2}×"));
            let notes = if f.notes.is_empty() {
                "—".into()
            } else {
                f.notes.join("; ")
            };
            let _ = writeln!(
                md,
                "| {} | {} {} | {} – {} ({}) | {reference} | {ratio} | {notes} |",
                f.what,
                number(f.value),
                f.unit,
                number(f.min),
                number(f.max),
                f.runs,
            );
        }
        for s in &self.series {
            let _ = writeln!(md, "\n![{}]({}.svg)", s.title, s.name);
        }
        md
    }

    pub fn json(&self, machine: &str) -> serde_json::Value {
        serde_json::json!({
            "machine": machine,
            "figures": self.figures,
            "series": self.series,
        })
    }
}

fn number(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A line chart of one series, as a self-contained SVG (log-scaled x: sizes and concurrency
/// grow by factors).
pub fn svg(s: &Series) -> String {
    let (w, h, left, bottom, top, right) = (640.0, 400.0, 70.0, 50.0, 40.0, 20.0);
    let xs: Vec<f64> = s
        .points
        .iter()
        .map(|p| p.0.max(f64::MIN_POSITIVE).log2())
        .collect();
    let (xmin, xmax) = xs
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
    let ymax = s.points.iter().map(|p| p.1).fold(0.0_f64, f64::max) * 1.1;
    let span = (xmax - xmin).max(1e-9);
    let px = |x: f64| left + (x - xmin) / span * (w - left - right);
    let py = |y: f64| h - bottom - y / ymax.max(1e-9) * (h - bottom - top);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{}</text>\
         <line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
         <text x=\"16\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {})\">{}</text>",
        w / 2.0,
        escape(&s.title),
        h - bottom,
        w - right,
        h - bottom,
        h - bottom,
        (left + w - right) / 2.0,
        h - 12.0,
        escape(&s.x_label),
        (top + h - bottom) / 2.0,
        (top + h - bottom) / 2.0,
        escape(&s.y_label),
    );
    for i in 0..=4 {
        let y = ymax * f64::from(i) / 4.0;
        let _ = write!(
            out,
            "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#ddd\"/><text x=\"{2}\" y=\"{3}\" text-anchor=\"end\">{4}</text>",
            py(y),
            w - right,
            left - 6.0,
            py(y) + 4.0,
            number(y)
        );
    }
    let path: Vec<String> = s
        .points
        .iter()
        .zip(&xs)
        .map(|(p, x)| format!("{:.1},{:.1}", px(*x), py(p.1)))
        .collect();
    let _ = write!(
        out,
        "<polyline fill=\"none\" stroke=\"#0b4f8a\" stroke-width=\"2\" points=\"{}\"/>",
        path.join(" ")
    );
    for (p, x) in s.points.iter().zip(&xs) {
        let _ = write!(
            out,
            "<circle cx=\"{0:.1}\" cy=\"{1:.1}\" r=\"3.5\" fill=\"#0b4f8a\"/><text x=\"{0:.1}\" y=\"{2}\" text-anchor=\"middle\">{3}</text><text x=\"{0:.1}\" y=\"{4:.1}\" text-anchor=\"middle\" font-size=\"11\">{5}</text>",
            px(*x),
            py(p.1),
            h - bottom + 16.0,
            number(p.0),
            py(p.1) - 8.0,
            number(p.1)
        );
    }
    out.push_str("</svg>\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_render_with_their_median_spread_and_ratio() {
        let mut print = |_: &str| {};
        let mut r = Report::new(&mut print);
        r.compared(
            "sign API",
            &[9_000.0, 10_000.0, 12_000.0, 10_500.0, 9_500.0],
            "signatures/s",
            "ring",
            &[80_000.0, 79_000.0, 81_000.0, 60_000.0, 90_000.0],
        );
        r.note("server on core 0");
        r.figure("read p50", &[1.5, 1.3], "ms");
        let md = r.markdown("test machine");
        assert!(
            md.contains(
                "| sign API | 10000 signatures/s | 9000 – 12000 (5) | ring: 80000 signatures/s | 0.12× | server on core 0 |"
            ),
            "{md}"
        );
        // An even number of runs: the mean of the middle two.
        assert!(
            md.contains("| read p50 | 1.40 ms | 1.30 – 1.50 (2) | — | — | — |"),
            "{md}"
        );
        let j = r.json("m");
        assert_eq!(j["figures"][0]["ratio"], 0.125);
        assert_eq!(j["figures"][0]["runs"], 5);
    }

    #[test]
    fn the_median_is_not_the_mean() {
        assert_eq!(spread(&[1.0, 2.0, 100.0]), (2.0, 1.0, 100.0));
        assert_eq!(spread(&[]), (0.0, 0.0, 0.0));
    }

    #[test]
    fn a_series_draws_every_point() {
        let s = Series {
            title: "ingest <by size>".into(),
            x_label: "MiB".into(),
            y_label: "MB/s".into(),
            name: "ingest".into(),
            points: vec![(0.0625, 50.0), (1.0, 150.0), (16.0, 240.0)],
        };
        let svg = svg(&s);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("ingest &lt;by size&gt;"));
    }
}
