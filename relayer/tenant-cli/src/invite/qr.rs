//! The token as a QR code for the terminal.

use qrcode::render::unicode::Dense1x2;
use qrcode::{EcLevel, QrCode};
use zeroize::Zeroizing;

/// The token does not fit into a QR code.
#[derive(Debug, thiserror::Error)]
#[error("the token does not fit into a QR code: {0}")]
pub struct QrError(qrcode::types::QrError);

/// Renders `token` with Unicode half blocks (two rows per line), light
/// modules drawn dark so it scans on a dark terminal. The code holds the
/// uppercase token (denser alphanumeric mode; tokens are case-insensitive).
pub fn render(token: &str) -> Result<Zeroizing<String>, QrError> {
    let upper = Zeroizing::new(token.to_ascii_uppercase());
    let code =
        QrCode::with_error_correction_level(upper.as_bytes(), EcLevel::M).map_err(QrError)?;
    Ok(Zeroizing::new(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_square_of_half_blocks() {
        let text = render("avpn-invite1qqqqqqqqqq").unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 10);
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
        // Two module rows per line.
        assert_eq!(lines.len(), width.div_ceil(2));
        assert!(text.contains('█') || text.contains('▀') || text.contains('▄'));
    }
}
