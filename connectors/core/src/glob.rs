//! Shell-style name patterns (`include_tables`, `exclude_tables`, `exclude_columns`): `*`
//! matches any run of characters, `?` one character, everything else itself; the whole name must
//! match. One implementation for every source.

/// Whether `text` matches `pattern`.
pub fn matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    matches_chars(&p, &t)
}

/// [`matches`] on pre-split characters; iterative, backtracking to the last `*` (linear in
/// practice).
pub fn matches_chars(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn whole_names_with_stars_and_marks() {
        assert!(matches("public.*", "public.orders"));
        assert!(matches("*.orders", "sales.orders"));
        assert!(!matches("public.*", "private.orders"));
        assert!(matches("public.order?", "public.orders"));
        assert!(matches("*", ""));
        assert!(!matches("a*b", "acbd"));
        assert!(matches("a*b*c", "aXbYbZc"));
    }
}
