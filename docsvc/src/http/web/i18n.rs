//! The UI's two languages, and small text helpers.

/// Bahasa Indonesia (the default) or English.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Id,
    En,
}

impl Lang {
    /// The same words in the page's language.
    pub fn t(self, id: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Id => id,
            Lang::En => en,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Id => "id",
            Lang::En => "en",
        }
    }

    #[must_use]
    pub fn other(self) -> Lang {
        match self {
            Lang::Id => Lang::En,
            Lang::En => Lang::Id,
        }
    }

    /// Derajat (urgency) as officials say it.
    pub fn urgency(self, u: &str) -> &'static str {
        match u {
            "segera" => self.t("Segera", "Urgent"),
            "sangat_segera" => self.t("Sangat Segera", "Very urgent"),
            "kilat" => self.t("Kilat", "Immediate"),
            _ => self.t("Biasa", "Routine"),
        }
    }

    /// A letter's state.
    pub fn state(self, s: &str) -> &'static str {
        match s {
            "awaiting_approval" => self.t("Menunggu persetujuan kedua", "Awaiting second approval"),
            "received" => self.t("Diterima dari simpul lain", "Received from another node"),
            "destroyed" => self.t("Dimusnahkan", "Destroyed"),
            _ => self.t("Terkirim", "Sent"),
        }
    }

    /// A delivery's state.
    pub fn delivery(self, s: &str) -> &'static str {
        match s {
            "queued" => self.t("Antre", "Queued"),
            "sent" => self.t("Dikirim", "Sent"),
            "delivered" => self.t("Diterima (tanda terima)", "Delivered (receipt)"),
            "failed" => self.t("Gagal, dicoba lagi", "Failed, retrying"),
            _ => self.t("Berhenti dicoba", "Given up"),
        }
    }
}

/// Black or white text, whichever contrasts more with `#rrggbb` (WCAG relative luminance).
pub(super) fn text_on(colour: &str) -> &'static str {
    let hex = colour.trim_start_matches('#');
    let channel = |i: usize| {
        let v = hex
            .get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .map_or(0.0, |v| f64::from(v) / 255.0);
        if v <= 0.039_28 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4);
    // Contrast with white is 1.05/(l+0.05), with black (l+0.05)/0.05.
    if 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 {
        "#ffffff"
    } else {
        "#000000"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_text_keeps_contrast() {
        assert_eq!(text_on("#b00020"), "#ffffff");
        assert_eq!(text_on("#ffd600"), "#000000");
        assert_eq!(text_on("#1b5e20"), "#ffffff");
    }
}
