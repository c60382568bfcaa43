//! Horizontal bar charts as SVG (plotters, SVG backend only): one bar per measured case, a
//! colour per series with a legend, an optional whisker (e.g. to p90 or p99), the value
//! written beside each bar, and a log scale when values span orders of magnitude.

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One bar.
pub(crate) struct Bar {
    pub(crate) label: String,
    pub(crate) value: f64,
    /// The end of a whisker drawn from the bar's end (e.g. p90), if any.
    pub(crate) high: Option<f64>,
    /// Index into [`Chart::series`].
    pub(crate) series: usize,
}

/// A chart: title, x axis label (with unit), the series names, the bars top to bottom.
pub(crate) struct Chart {
    pub(crate) title: String,
    pub(crate) x_label: String,
    pub(crate) series: Vec<String>,
    pub(crate) bars: Vec<Bar>,
    pub(crate) log: bool,
    /// Formats a value written beside its bar.
    pub(crate) unit: &'static str,
}

/// Colour-blind-safe palette (Okabe–Ito).
const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Writes `chart` to `path` as SVG.
pub(crate) fn draw(path: &Path, chart: &Chart) -> Result<(), String> {
    draw_inner(path, chart).map_err(|e| format!("plot {}: {e}", path.display()))
}

fn fmt_value(v: f64, unit: &str) -> String {
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {unit}")
}

fn draw_inner(path: &Path, chart: &Chart) -> Result<(), Box<dyn std::error::Error>> {
    let n = chart.bars.len().max(1);
    let height = 150 + 24 * n as u32;
    let root = SVGBackend::new(path, (1100, height + HEADER)).into_drawing_area();
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(HEADER);
    header(&head, chart)?;
    let top = chart
        .bars
        .iter()
        .map(|b| b.high.unwrap_or(b.value).max(b.value))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let bottom = chart
        .bars
        .iter()
        .map(|b| b.value)
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    // No positive bar (a narrowed run measured none of this chart): a log axis from infinity
    // would never finish placing its ticks.
    let bottom = if bottom.is_finite() { bottom } else { top };
    // The bar at index i is drawn in segment n-1-i, so the first bar is at the top.
    let y = |i: usize| (n - 1 - i) as i32;
    let labels: Vec<String> = chart.bars.iter().map(|b| b.label.clone()).collect();
    let label_of = move |v: &SegmentValue<i32>| -> String {
        let i = match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => *i,
            SegmentValue::Last => return String::new(),
        };
        usize::try_from(i)
            .ok()
            .and_then(|i| labels.get(n.checked_sub(1 + i)?))
            .cloned()
            .unwrap_or_default()
    };
    let mut builder = ChartBuilder::on(&body);
    builder
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(330);
    if chart.log {
        let lo = (bottom / 2.0).max(1e-6);
        let mut ctx = builder
            .build_cartesian_2d((lo..top * 3.0).log_scale(), (0..n as i32).into_segmented())?;
        ctx.configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&label_of)
            .x_desc(chart.x_label.as_str())
            .x_label_formatter(&|v| format!("{v}"))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw()?;
        bars(&mut ctx, chart, lo, &y)?;
    } else {
        let mut ctx =
            builder.build_cartesian_2d(0.0..top * 1.18, (0..n as i32).into_segmented())?;
        ctx.configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&label_of)
            .x_desc(chart.x_label.as_str())
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw()?;
        bars(&mut ctx, chart, 0.0, &y)?;
    }
    root.present()?;
    Ok(())
}

type Ctx<'a, X> = ChartContext<
    'a,
    SVGBackend<'a>,
    Cartesian2d<
        X,
        plotters::coord::ranged1d::SegmentedCoord<plotters::coord::types::RangedCoordi32>,
    >,
>;

fn bars<X>(
    ctx: &mut Ctx<'_, X>,
    chart: &Chart,
    base: f64,
    y: &dyn Fn(usize) -> i32,
) -> Result<(), Box<dyn std::error::Error>>
where
    X: Ranged<ValueType = f64>,
{
    for (i, b) in chart.bars.iter().enumerate() {
        let c = colour(b.series);
        let row = y(i);
        let mut rect = Rectangle::new(
            [
                (base, SegmentValue::Exact(row)),
                (b.value.max(base), SegmentValue::Exact(row + 1)),
            ],
            c.filled(),
        );
        rect.set_margin(3, 3, 0, 0);
        ctx.draw_series(std::iter::once(rect))?;
        let mut end = b.value;
        if let Some(h) = b.high.filter(|h| *h > b.value) {
            ctx.draw_series(std::iter::once(PathElement::new(
                vec![
                    (b.value, SegmentValue::CenterOf(row)),
                    (h, SegmentValue::CenterOf(row)),
                ],
                BLACK.stroke_width(2),
            )))?;
            end = h;
        }
        let text =
            TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        ctx.draw_series(std::iter::once(
            EmptyElement::at((end, SegmentValue::CenterOf(row)))
                + Text::new(fmt_value(b.value, chart.unit), (6, 0), text),
        ))?;
    }
    Ok(())
}

/// Height of the title and legend strip above the chart, pixels.
const HEADER: u32 = 80;

/// The title, and one legend entry per series that has a bar, in a row under it (outside the
/// plot, so it never hides a bar).
fn header(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    chart: &Chart,
) -> Result<(), Box<dyn std::error::Error>> {
    let title =
        TextStyle::from(("sans-serif", 22).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    area.draw(&Text::new(chart.title.as_str(), (550, 12), title))?;
    let used: Vec<usize> = (0..chart.series.len())
        .filter(|i| chart.bars.iter().any(|b| b.series == *i))
        .collect();
    let label =
        TextStyle::from(("sans-serif", 15).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let mut x = 40;
    for i in used {
        let name = &chart.series[i];
        area.draw(&Rectangle::new([(x, 52), (x + 16, 66)], colour(i).filled()))?;
        area.draw(&Text::new(name.as_str(), (x + 22, 59), label.clone()))?;
        // plotters' SVG backend cannot measure text: about 8 px per character at this size.
        x += 22 + 8 * i32::try_from(name.chars().count()).unwrap_or(30) + 30;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A narrowed run (`--no-cold`) leaves charts without bars; drawing them must end.
    #[test]
    fn charts_without_bars_are_drawn() {
        let dir = tempfile::tempdir().unwrap();
        for log in [true, false] {
            let chart = Chart {
                title: "empty".into(),
                x_label: "ms".into(),
                series: Vec::new(),
                bars: Vec::new(),
                log,
                unit: "ms",
            };
            let path = dir.path().join(format!("empty-{log}.svg"));
            draw(&path, &chart).unwrap();
            assert!(std::fs::read_to_string(&path).unwrap().contains("<svg"));
        }
    }
}
