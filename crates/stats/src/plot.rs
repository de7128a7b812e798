//! `stats --plot FILE.svg`: the coverage map. For the data (and each
//! `--by` group, as small multiples), a row of three panels: valence ×
//! intimacy heat maps of row counts below and at or above the high-tension
//! threshold, and the archetype counts against their targets. The maps
//! carry the baseline thresholds as dashed lines and each archetype's
//! region (the cells where its axes rule can fire in that tension band)
//! outlined and labelled with count / target. Drawn with plotters' SVG
//! backend; counts are coloured with viridis on a log scale, which stays
//! ordered in greyscale and for colour-blind readers, and empty cells stay
//! white so gaps stand out.

use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use refinery_core::config::{Baseline, Target};
use refinery_core::expr::Predicate;
use refinery_core::{Error, Result};

use crate::summary::{Summary, CELLS};

const PANEL_W: u32 = 430;
const PANEL_H: u32 = 400;
const TITLE_H: u32 = 50;
/// Tension values tried per band when deciding whether a rule can fire in
/// a cell (below the threshold, and at or above it).
const BAND_TENSIONS: [&[f64]; 2] = [
    &[-1.0, -0.6, -0.2, 0.0, 0.1, 0.2, 0.3, 0.39],
    &[0.4, 0.5, 0.6, 0.8, 1.0],
];

/// An archetype's region: its rule, compiled.
struct Region<'a> {
    target: &'a Target,
    rule: Predicate,
}

/// The font plotters measures and names its text with; the SVG names it,
/// the viewer draws it.
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Cannot fail on the bundled font: the bytes are a valid TTF.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::usage(format!("--plot: drawing failed: {e}"))
}

/// The middle of cell `k` of an axis over [-1, 1].
fn cell_mid(k: usize) -> f64 {
    -1.0 + (k as f64 + 0.5) * 2.0 / CELLS as f64
}

fn cell_lo(k: usize) -> f64 {
    -1.0 + k as f64 * 2.0 / CELLS as f64
}

/// Whether `rule` can fire in cell (v, i) of tension band `band`.
fn fires(rule: &Predicate, band: usize, v: usize, i: usize) -> bool {
    BAND_TENSIONS[band].iter().any(|&t| {
        let row =
            serde_json::json!({"valence": cell_mid(v), "intimacy": cell_mid(i), "tension": t});
        rule.matches(row.as_object().expect("an object"))
    })
}

/// The SVG document: a title naming `input`, then one row of panels per
/// summary (`label`, summary).
pub fn coverage_svg(
    input: &str,
    summaries: &[(String, &Summary)],
    thresholds: &Baseline,
    targets: &[Target],
) -> Result<String> {
    register_font();
    let regions = targets
        .iter()
        .filter_map(|t| {
            let rule = t.axes.as_ref()?;
            Some(
                Predicate::parse(&rule.rule)
                    .map(|rule| Region { target: t, rule })
                    .map_err(|e| Error::usage(format!("archetype `{}`: axes rule: {e}", t.name))),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let height = TITLE_H + PANEL_H * summaries.len() as u32;
    // One colour scale for every panel, so small multiples compare.
    let max = summaries
        .iter()
        .flat_map(|(_, s)| s.coverage.cells.iter().flatten().flatten())
        .copied()
        .max()
        .unwrap_or(0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (PANEL_W * 3, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let (title, body) = root.split_vertically(TITLE_H);
        let title = title
            .titled(
                &format!("Coverage of {input}: rows per valence × intimacy cell (0.1 wide)"),
                ("sans-serif", 20),
            )
            .map_err(plot_error)?;
        title
            .draw_text(
                "darker = more rows (log scale), white = none; dashed: the baseline thresholds; \
                 outlined: where each archetype's axes rule can fire, with its rows / target",
                &("sans-serif", 12).into_font().color(&BLACK.mix(0.75)),
                (10, 2),
            )
            .map_err(plot_error)?;
        for (strip, (label, summary)) in body
            .split_evenly((summaries.len(), 1))
            .iter()
            .zip(summaries)
        {
            let panels = strip.split_evenly((1, 3));

            for (band, panel) in panels.iter().take(2).enumerate() {
                heat_map(panel, label, summary, band, max, thresholds, &regions)?;
            }
            bars(&panels[2], label, summary, targets)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

fn heat_map<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    label: &str,
    summary: &Summary,
    band: usize,
    max: u64,
    t: &Baseline,
    regions: &[Region],
) -> Result<()> {
    let cells = &summary.coverage.cells[band];
    let rows: u64 = cells.iter().flatten().sum();
    let caption = format!(
        "{label}: tension {} {} ({rows} rows)",
        if band == 0 { "<" } else { "≥" },
        t.high_tension_min
    );
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(32)
        .y_label_area_size(40)
        .build_cartesian_2d(-1.0f64..1.0, -1.0f64..1.0)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("valence")
        .y_desc("intimacy")
        .x_labels(5)
        .y_labels(5)
        .draw()
        .map_err(plot_error)?;
    let scale = ((max + 1) as f64).ln();
    let step = 2.0 / CELLS as f64;
    chart
        .draw_series(
            (0..CELLS)
                .flat_map(|v| (0..CELLS).map(move |i| (v, i)))
                .filter(|&(v, i)| cells[v][i] > 0)
                .map(|(v, i)| {
                    // Light (few rows) to dark (many): viridis reversed.
                    let h = ((cells[v][i] + 1) as f64).ln() / scale;
                    let color = ViridisRGB::get_color(1.0 - 0.85 * h);
                    let (x, y) = (cell_lo(v), cell_lo(i));
                    Rectangle::new([(x, y), (x + step, y + step)], color.filled())
                }),
        )
        .map_err(plot_error)?;
    let dashed = |from: (f64, f64), to: (f64, f64)| {
        DashedLineSeries::new([from, to], 6, 4, BLACK.mix(0.6).stroke_width(1))
    };
    for x in [t.negative_valence_max, t.positive_valence_min] {
        chart
            .draw_series(dashed((x, -1.0), (x, 1.0)))
            .map_err(plot_error)?;
    }
    for y in [t.distant_intimacy_max, t.high_intimacy_min] {
        chart
            .draw_series(dashed((-1.0, y), (1.0, y)))
            .map_err(plot_error)?;
    }
    for region in regions {
        outline(&mut chart, summary, band, region)?;
    }
    Ok(())
}

/// The region's cells in this band outlined, and its label at their middle.
fn outline<DB: DrawingBackend>(
    chart: &mut ChartContext<
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    summary: &Summary,
    band: usize,
    region: &Region,
) -> Result<()> {
    let inside = |v: isize, i: isize| {
        v >= 0
            && i >= 0
            && (v as usize) < CELLS
            && (i as usize) < CELLS
            && fires(&region.rule, band, v as usize, i as usize)
    };
    let step = 2.0 / CELLS as f64;
    let mut edges = Vec::new();
    let mut cells = Vec::new();
    for v in 0..CELLS as isize {
        for i in 0..CELLS as isize {
            if !inside(v, i) {
                continue;
            }
            cells.push((v, i));
            let (x, y) = (cell_lo(v as usize), cell_lo(i as usize));
            if !inside(v - 1, i) {
                edges.push([(x, y), (x, y + step)]);
            }
            if !inside(v + 1, i) {
                edges.push([(x + step, y), (x + step, y + step)]);
            }
            if !inside(v, i - 1) {
                edges.push([(x, y), (x + step, y)]);
            }
            if !inside(v, i + 1) {
                edges.push([(x, y + step), (x + step, y + step)]);
            }
        }
    }
    if cells.is_empty() {
        return Ok(());
    }
    chart
        .draw_series(
            edges
                .into_iter()
                .map(|e| PathElement::new(e.to_vec(), BLACK.stroke_width(2))),
        )
        .map_err(plot_error)?;
    let n = cells.len() as f64;
    let (cv, ci) = cells.iter().fold((0.0, 0.0), |(a, b), &(v, i)| {
        (a + cell_mid(v as usize), b + cell_mid(i as usize))
    });
    let name = &region.target.name;
    let text = format!(
        "{name} {}/{}",
        summary.archetypes.get(name),
        region.target.target
    );
    chart
        .draw_series(std::iter::once(Text::new(
            text,
            (cv / n - 0.3, ci / n),
            ("sans-serif", 11).into_font().color(&BLACK),
        )))
        .map_err(plot_error)?;
    Ok(())
}

/// Archetype counts (bars) against their targets (outlined bars behind).
fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    label: &str,
    summary: &Summary,
    targets: &[Target],
) -> Result<()> {
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let most = targets
        .iter()
        .map(|t| t.target.max(summary.archetypes.get(&t.name)))
        .max()
        .unwrap_or(1)
        .max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{label}: archetypes, rows / target"),
            ("sans-serif", 15),
        )
        .margin(8)
        .x_label_area_size(32)
        .y_label_area_size(130)
        .build_cartesian_2d(0.0..most as f64 * 1.4, 0.0..names.len().max(1) as f64)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(names.len().max(1) * 2 + 1)
        .y_label_formatter(&|y| {
            let k = y - 0.5;
            if k.fract().abs() < 1e-9 && k >= 0.0 && (k as usize) < names.len() {
                names[names.len() - 1 - k as usize].to_string()
            } else {
                String::new()
            }
        })
        .x_desc("rows")
        .x_labels(4)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(plot_error)?;
    let n = names.len();
    for (k, t) in targets.iter().enumerate() {
        let y = (n - 1 - k) as f64;
        let count = summary.archetypes.get(&t.name) as f64;
        chart
            .draw_series([
                Rectangle::new(
                    [(0.0, y + 0.2), (t.target as f64, y + 0.8)],
                    BLACK.stroke_width(1),
                ),
                Rectangle::new(
                    [(0.0, y + 0.3), (count, y + 0.7)],
                    ViridisRGB::get_color(0.3).filled(),
                ),
            ])
            .map_err(plot_error)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{}/{}", count as u64, t.target),
                (most as f64 * 1.05, y + 0.35),
                ("sans-serif", 11).into_font().color(&BLACK),
            )))
            .map_err(plot_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::cell_of;

    #[test]
    fn cells_are_a_tenth_wide_and_the_last_includes_one() {
        assert_eq!(cell_of(-1.0), Some(0));
        assert_eq!(cell_of(-0.8), Some(2), "a decimal edge opens its cell");
        assert_eq!(cell_of(0.0), Some(10));
        assert_eq!(cell_of(0.95), Some(19));
        assert_eq!(cell_of(1.0), Some(19));
        assert_eq!(cell_of(1.01), None);
        assert_eq!(cell_of(-1.5), None);
        assert!((cell_mid(0) + 0.95).abs() < 1e-12 && (cell_lo(10) - 0.0).abs() < 1e-12);
    }

    #[test]
    fn a_rule_fires_in_the_cells_and_band_it_names() {
        let rule =
            Predicate::parse("valence <= -0.2 and intimacy >= 0.3 and tension >= 0.4").unwrap();
        // Cell 5 of valence is [-0.5, -0.4); cell 15 of intimacy [0.5, 0.6).
        assert!(fires(&rule, 1, 5, 15));
        assert!(!fires(&rule, 0, 5, 15), "not below the tension threshold");
        assert!(!fires(&rule, 1, 12, 15), "valence 0.25 is not negative");
        let calm = Predicate::parse("tension <= 0.2 and abs(valence) < 0.2").unwrap();
        assert!(fires(&calm, 0, 10, 0));
        assert!(!fires(&calm, 1, 10, 0));
    }
}
