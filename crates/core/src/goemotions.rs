//! The GoEmotions label set (Demszky et al., 2020), shared by the tools that
//! read GoEmotions files and the mapping files that name its labels.

/// The 28 labels in id order (0 = admiration … 27 = neutral), as in the
/// release's `emotions.txt` / `labels.txt`.
pub const LABELS: [&str; 28] = [
    "admiration",
    "amusement",
    "anger",
    "annoyance",
    "approval",
    "caring",
    "confusion",
    "curiosity",
    "desire",
    "disappointment",
    "disapproval",
    "disgust",
    "embarrassment",
    "excitement",
    "fear",
    "gratitude",
    "grief",
    "joy",
    "love",
    "nervousness",
    "optimism",
    "pride",
    "realization",
    "relief",
    "remorse",
    "sadness",
    "surprise",
    "neutral",
];

/// Whether `name` is one of the 28 GoEmotions labels.
pub fn is_label(name: &str) -> bool {
    LABELS.contains(&name)
}

/// Words people reach for that GoEmotions does not have, with the labels
/// that stand in for them. The seed itself asks for "cautious" and
/// "apprehension".
const STAND_INS: [(&str, &[&str]); 14] = [
    ("apprehension", &["nervousness", "fear"]),
    ("apprehensive", &["nervousness", "fear"]),
    ("cautious", &["nervousness", "fear"]),
    ("caution", &["nervousness", "fear"]),
    ("anxiety", &["nervousness", "fear"]),
    ("anxious", &["nervousness", "fear"]),
    ("worry", &["nervousness"]),
    ("panic", &["fear", "nervousness"]),
    ("jealousy", &["anger", "disapproval"]),
    ("contempt", &["disgust", "disapproval"]),
    ("happiness", &["joy"]),
    ("affection", &["love", "caring"]),
    ("boredom", &["neutral", "disappointment"]),
    ("shame", &["embarrassment", "remorse"]),
];

/// Labels to suggest for a name that is not one: stand-ins for common
/// emotion words first, then the nearest labels by edit distance.
pub fn nearest_labels(name: &str, n: usize) -> Vec<&'static str> {
    let lower = name.to_lowercase();
    let mut out: Vec<&'static str> = STAND_INS
        .iter()
        .filter(|(w, _)| *w == lower)
        .flat_map(|(_, labels)| labels.iter().copied())
        .collect();
    let mut scored: Vec<(usize, &str)> = LABELS
        .iter()
        .map(|l| (edit_distance(&lower, l), *l))
        .collect();
    scored.sort();
    for (_, l) in scored {
        if !out.contains(&l) {
            out.push(l);
        }
    }
    out.truncate(n);
    out
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_release_order() {
        assert_eq!(LABELS[0], "admiration");
        assert_eq!(LABELS[14], "fear");
        assert_eq!(LABELS[19], "nervousness");
        assert_eq!(LABELS[27], "neutral");
    }

    #[test]
    fn suggestions_for_the_seeds_non_labels() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(nearest_labels("angr", 1), ["anger"]);
        assert!(nearest_labels("nervous", 3).contains(&"nervousness"));
        assert_eq!(nearest_labels("Apprehension", 2), ["nervousness", "fear"]);
        assert_eq!(nearest_labels("cautious", 3)[..2], ["nervousness", "fear"]);
        assert!(!is_label("cautious"));
        assert!(!is_label("apprehension"));
    }
}
