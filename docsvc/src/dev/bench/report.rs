//! What `docsvc bench` measured: figures (with the reference measured in the same run and the
//! ratio to it, since the machine is noisy), series for plots, and their renderings as
//! Markdown, JSON and SVG.

use std::fmt::Write as _;

use serde::Serialize;

/// One measured figure, with its reference where one exists.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub what: String,
    pub value: f64,
    pub unit: String,
    pub reference: Option<String>,
    pub reference_value: Option<f64>,
    /// `value / reference_value` (both in the same unit, higher is better).
    pub ratio: Option<f64>,
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

    pub fn figure(&mut self, what: &str, value: f64, unit: &str) {
        self.figures.push(Figure {
            what: what.into(),
            value,
            unit: unit.into(),
            reference: None,
            reference_value: None,
            ratio: None,
        });
    }

    /// A figure beside its reference, measured in the same run.
    pub fn compared(
        &mut self,
        what: &str,
        value: f64,
        unit: &str,
        reference: &str,
        reference_value: f64,
    ) {
        self.figures.push(Figure {
            what: what.into(),
            value,
            unit: unit.into(),
            reference: Some(reference.into()),
            reference_value: Some(reference_value),
            ratio: (reference_value > 0.0).then(|| value / reference_value),
        });
    }

    pub fn series(&mut self, s: Series) {
        self.series.push(s);
    }

    /// The figures as a Markdown table, with the machine and date.
    pub fn markdown(&self, machine: &str) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# docsvc bench\n\n{machine}\n");
        let _ = writeln!(md, "| figure | value | reference (same run) | ratio |");
        let _ = writeln!(md, "| --- | ---: | --- | ---: |");
        for f in &self.figures {
            let reference = match (&f.reference, f.reference_value) {
                (Some(r), Some(v)) => format!("{r}: {} {}", number(v), f.unit),
                _ => "—".into(),
            };
            let ratio = f.ratio.map_or_else(|| "—".into(), |r| format!("{r:.2}×"));
            let _ = writeln!(
                md,
                "| {} | {} {} | {reference} | {ratio} |",
                f.what,
                number(f.value),
                f.unit
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
    fn figures_render_with_their_ratio() {
        let mut print = |_: &str| {};
        let mut r = Report::new(&mut print);
        r.compared("sign API", 10_000.0, "signatures/s", "ring", 80_000.0);
        r.figure("read p50", 1.5, "ms");
        let md = r.markdown("test machine");
        assert!(
            md.contains("| sign API | 10000 signatures/s | ring: 80000 signatures/s | 0.12× |"),
            "{md}"
        );
        assert!(md.contains("| read p50 | 1.50 ms | — | — |"), "{md}");
        let j = r.json("m");
        assert_eq!(j["figures"][0]["ratio"], 0.125);
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
