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

pub fn is_label(name: &str) -> bool {
    LABELS.contains(&name)
}

/// The labels nearest to `name` by edit distance, closest first (for "did
/// you mean" messages: the seed's "apprehension" is not a label).
pub fn nearest_labels(name: &str, n: usize) -> Vec<&'static str> {
    let mut scored: Vec<(usize, &str)> = LABELS
        .iter()
        .map(|l| (edit_distance(&name.to_lowercase(), l), *l))
        .collect();
    scored.sort();
    scored.into_iter().take(n).map(|(_, l)| l).collect()
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
        assert!(!is_label("cautious"));
        assert!(!is_label("apprehension"));
    }
}
