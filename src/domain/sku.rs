//! How SKUs meet across accounts. A master matches its children's variants
//! by the normalised SKU: Unicode NFKC (so full-width `ＡＢＣ` and `ABC`
//! meet), invisible characters removed (zero-width spaces and joiners, the
//! byte-order mark, soft hyphens, other format characters), surrounding
//! white space trimmed, and case folded.

use unicode_normalization::UnicodeNormalization;

/// Whether a character is invisible in print (Unicode format characters
/// and the other zero-width marks merchants' exports carry).
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
    ) || c.is_control()
}

/// The normalised form of a SKU, the key by which accounts' variants meet.
pub fn normalise(sku: &str) -> String {
    let cleaned: String = sku.nfkc().filter(|c| !invisible(*c)).collect();
    cleaned.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn case_width_space_and_invisible_characters_meet() {
        assert_eq!(normalise("  15056bl "), "15056bl");
        assert_eq!(normalise("15056BL"), "15056bl");
        assert_eq!(normalise("ＴＳＨＩＲＴ－ＲＥＤ"), "tshirt-red");
        assert_eq!(normalise("TSHIRT\u{200B}-RED"), "tshirt-red");
        assert_eq!(normalise("\u{FEFF}TSHIRT-RED\u{00AD}"), "tshirt-red");
        assert_eq!(normalise("Straße"), "straße");
        assert_ne!(normalise("TS-R-M"), normalise("TSHIRT-RED-M"));
    }
}
