//! `stats --plot`: the coverage map's structure read from the SVG, the same
//! bytes on every run, and the SVG rendered to PNG (resvg) to check that it
//! draws (the PNG is left in the test's temporary target directory to look at).

use refinery_testkit::run;

const BIN: &str = env!("CARGO_BIN_EXE_stats");

fn plot(extra: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("coverage.svg");
    let mut args = vec!["--quiet", "--plot", svg.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push("affect/small.jsonl");
    let r = run(BIN, &args, None);
    assert_eq!(r.status, 0, "{}", r.stderr);
    (std::fs::read_to_string(&svg).unwrap(), r.stdout)
}

/// The texts of the SVG's <text> elements.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            let text = body[..body.find("</text>")?].trim();
            Some(
                text.replace("&gt;", ">")
                    .replace("&lt;", "<")
                    .replace("&apos;", "'"),
            )
        })
        .collect()
}

#[test]
fn the_map_has_a_row_of_panels_per_group_with_labelled_regions() {
    let (svg, stdout) = plot(&["--by", "split"]);
    assert!(stdout.contains("axes"), "the report is still printed");
    let t = texts(&svg);
    let has = |s: &str| t.iter().any(|x| x == s);
    assert!(
        t.iter()
            .any(|x| x.starts_with("Coverage of affect/small.jsonl")),
        "{t:?}"
    );
    // Two maps and the bars for all rows, then for each split (and rows without one).
    for label in [
        "all rows",
        "split = train",
        "split = dev",
        "split = test",
        "split = (none)",
    ] {
        assert!(
            t.iter()
                .any(|x| x.starts_with(&format!("{label}: tension < 0.4 ("))),
            "{label}: {t:?}"
        );
        assert!(
            t.iter()
                .any(|x| x.starts_with(&format!("{label}: tension ≥ 0.4 ("))),
            "{label}"
        );
        assert!(
            has(&format!("{label}: archetypes, rows / target")),
            "{label}"
        );
    }
    // Counts in the captions: 10 rows placed in all, 2 lack an axis.
    assert!(
        has("all rows: tension < 0.4 (5 rows)") && has("all rows: tension ≥ 0.4 (5 rows)"),
        "{t:?}"
    );
    // Regions with an axes rule, labelled rows / target where they can fire.
    for region in [
        "hostile_intimacy 1/600",
        "aggressive_distance 1/600",
        "neutral_but_close 1/500",
        "flat_numb 1/400",
        "fearful_urgent 1/400",
    ] {
        assert!(has(region), "{region}: {t:?}");
    }
    assert!(
        has("1/300") && has("1/200"),
        "bars for archetypes without a region"
    );
    assert!(has("valence") && has("intimacy") && has("rows"));
    // Cells with rows are drawn; the largest plot is still small.
    assert!(svg.matches("<rect").count() > 10);
    let (again, _) = plot(&["--by", "split"]);
    assert!(again == svg, "the same input gives the same SVG");
}

#[test]
fn the_map_renders_to_png() {
    let (svg, _) = plot(&[]);
    let mut opt = resvg::usvg::Options::default();
    opt.fontdb_mut()
        .load_font_data(dejavu::sans::regular().to_vec());
    opt.fontdb_mut().set_sans_serif_family("DejaVu Sans");
    let tree = resvg::usvg::Tree::from_str(&svg, &opt).unwrap();
    let size = tree.size().to_int_size();
    assert_eq!((size.width(), size.height()), (1290, 464));
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    let pixels = pixmap.pixels();
    let inked = pixels
        .iter()
        .filter(|p| p.red() < 200 || p.green() < 200 || p.blue() < 200)
        .count();
    let share = inked as f64 / pixels.len() as f64;
    assert!(
        (0.01..0.5).contains(&share),
        "ink covers {share:.3} of the image"
    );
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("coverage.png");
    pixmap.save_png(&out).unwrap();
}
