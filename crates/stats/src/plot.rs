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
const TITLE_H: u32 = 64;
/// Most rows of panels (the data and its `--by` groups) one map draws.
pub const MAX_STRIPS: usize = 40;

/// An archetype's region: the cells, per tension band, where its axes rule
/// can fire.
struct Region<'a> {
    target: &'a Target,
    cells: [[[bool; CELLS]; CELLS]; 2],
}

/// The tension values tried in each band: below `high`, and from it to 1.
fn band_tensions(high: f64) -> [Vec<f64>; 2] {
    let spread = |lo: f64, hi: f64, n: usize| -> Vec<f64> {
        (0..n)
            .map(|k| lo + (hi - lo) * k as f64 / (n - 1) as f64)
            .collect()
    };
    let high = high.clamp(-1.0, 1.0);
    let below = if high > -1.0 {
        // Up to just below the threshold, which belongs to the upper band.
        let mut v = spread(-1.0, high, 6);
        v.pop();
        v.push(high - 1e-9);
        v
    } else {
        Vec::new()
    };
    [below, spread(high, 1.0, 5)]
}

/// Where `rule` can fire: a cell holds rows from its lower edge up to (not
/// including) its upper one, so the rule is tried at the lower edge and the
/// middle of each axis, at every tension of the band. Only valence,
/// intimacy and tension are set: a rule on other fields (tags, text) fires
/// nowhere here.
fn region_cells(rule: &Predicate, high: f64) -> [[[bool; CELLS]; CELLS]; 2] {
    let mut row = refinery_core::Row::new();
    for axis in ["valence", "intimacy", "tension"] {
        row.insert(axis.into(), 0.0.into());
    }
    let set = |row: &mut refinery_core::Row, axis: &str, x: f64| {
        *row.get_mut(axis).expect("inserted above") = x.into();
    };
    let mut cells = [[[false; CELLS]; CELLS]; 2];
    for (band, tensions) in band_tensions(high).iter().enumerate() {
        for (v, column) in cells[band].iter_mut().enumerate() {
            for (i, cell) in column.iter_mut().enumerate() {
                *cell = tensions.iter().any(|&t| {
                    [cell_lo(v), cell_mid(v)].iter().any(|&x| {
                        [cell_lo(i), cell_mid(i)].iter().any(|&y| {
                            set(&mut row, "valence", x);
                            set(&mut row, "intimacy", y);
                            set(&mut row, "tension", t);
                            rule.matches(&row)
                        })
                    })
                });
            }
        }
    }
    cells
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
    (2.0 * k as f64 + 1.0 - CELLS as f64) / CELLS as f64
}

/// The lower edge of cell `k`, as the decimal it is (-0.2, not
/// -0.19999999999999996), so a rule's threshold falls where the rows do.
fn cell_lo(k: usize) -> f64 {
    (2.0 * k as f64 - CELLS as f64) / CELLS as f64
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
                    .map(|rule| Region {
                        target: t,
                        cells: region_cells(&rule, thresholds.high_tension_min),
                    })
                    .map_err(|e| Error::usage(format!("archetype `{}`: axes rule: {e}", t.name))),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    if summaries.len() > MAX_STRIPS {
        return Err(Error::usage(format!(
            "--plot draws a row of panels per group: {} groups are too many (at most {MAX_STRIPS}); \
             pick fewer with --where or plot without --by",
            summaries.len() - 1
        )));
    }
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
        let note = ("sans-serif", 12).into_font().color(&BLACK.mix(0.75));
        title
            .draw_text(
                "dashed: the baseline thresholds; outlined: the cells where an archetype's axes rule \
                 can fire, labelled with all its rows (both bands) / its target; white: no rows",
                &note,
                (10, 2),
            )
            .map_err(plot_error)?;
        legend(&title, max)?;
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

/// The colour of a cell holding `n` rows when the fullest holds `max`:
/// viridis on a log scale, light (few) to dark (many).
fn cell_color(n: u64, max: u64) -> RGBColor {
    let h = ((n + 1) as f64).ln() / ((max + 1) as f64).ln().max(f64::MIN_POSITIVE);
    ViridisRGB::get_color(1.0 - 0.85 * h.min(1.0))
}

/// The colour key: swatches for 1 row, the fullest cell, and counts between.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    max: u64,
) -> Result<()> {
    let mut counts = vec![1, max];
    if max > 3 {
        let mid = ((max as f64).sqrt().round() as u64).clamp(2, max - 1);
        counts.insert(1, mid);
    }
    counts.dedup();
    let font = ("sans-serif", 12).into_font().color(&BLACK.mix(0.75));
    area.draw_text("rows per cell (log scale):", &font, (10, 20))
        .map_err(plot_error)?;
    for (k, n) in counts.into_iter().filter(|&n| n > 0).enumerate() {
        let x = 180 + 70 * k as i32;
        area.draw(&Rectangle::new(
            [(x, 20), (x + 14, 34)],
            cell_color(n, max).filled(),
        ))
        .map_err(plot_error)?;
        area.draw_text(&n.to_string(), &font, (x + 18, 20))
            .map_err(plot_error)?;
    }
    Ok(())
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
    let step = 2.0 / CELLS as f64;
    chart
        .draw_series(
            (0..CELLS)
                .flat_map(|v| (0..CELLS).map(move |i| (v, i)))
                .filter(|&(v, i)| cells[v][i] > 0)
                .map(|(v, i)| {
                    let (x, y) = (cell_lo(v), cell_lo(i));
                    let color = cell_color(cells[v][i], max);
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
            && region.cells[band][v as usize][i as usize]
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
    fn a_region_is_where_its_rule_fires_in_each_band() {
        let rule =
            Predicate::parse("valence <= -0.2 and intimacy >= 0.3 and tension >= 0.4").unwrap();
        let cells = region_cells(&rule, 0.4);
        // Cell 5 of valence is [-0.5, -0.4); cell 15 of intimacy [0.5, 0.6).
        assert!(cells[1][5][15]);
        assert!(!cells[0][5][15], "not below the tension threshold");
        assert!(!cells[1][12][15], "valence 0.25 is not negative");
        // A row at valence -0.2 exactly lies in cell [-0.2, -0.1): inside.
        assert!(cells[1][8][15]);
        assert!(!cells[1][9][15]);
        // The bands follow the threshold.
        let at_07 = region_cells(&Predicate::parse("tension >= 0.5").unwrap(), 0.7);
        assert!(at_07[0][0][0], "0.5 is below 0.7");
        let calm = Predicate::parse("tension <= 0.2 and abs(valence) < 0.2").unwrap();
        let calm = region_cells(&calm, 0.4);
        assert!(calm[0][10][0] && !calm[1][10][0]);
        let tags = region_cells(&Predicate::parse("tags has \"care\"").unwrap(), 0.4);
        assert!(
            tags.iter().flatten().flatten().all(|&c| !c),
            "no axes, no region"
        );
    }

    #[test]
    fn colours_darken_with_rows() {
        let lum = |c: RGBColor| 0.3 * c.0 as f64 + 0.59 * c.1 as f64 + 0.11 * c.2 as f64;
        let (one, some, most) = (
            cell_color(1, 100),
            cell_color(10, 100),
            cell_color(100, 100),
        );
        assert!(
            lum(one) > lum(some) && lum(some) > lum(most),
            "ordered in greyscale"
        );
        assert_eq!(cell_color(1, 1), cell_color(5, 5));
    }
}
