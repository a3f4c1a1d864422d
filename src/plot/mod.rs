//! Charts with plotters, rendered with a bundled font (DejaVu Sans) so they work on machines with no fonts.

pub mod animation;
pub mod bars;
pub mod compare;
pub mod confusion;
pub mod curves;
pub mod faithfulness;
pub mod heatmap;
pub mod html;
pub mod overlay;
pub mod robustness;
pub mod skeleton;

use crate::{Error, Result};
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

static FONT: Once = Once::new();

/// Register the bundled font for the family names we use (once per process).
pub fn ensure_font() {
    FONT.call_once(|| {
        for family in ["sans-serif", "serif", "monospace"] {
            let _ =
                plotters::style::register_font(family, FontStyle::Normal, dejavu::sans::regular());
            let _ = plotters::style::register_font(family, FontStyle::Bold, dejavu::sans::bold());
        }
    });
}

/// Draw into an RGB buffer of `size` with `draw`, then save it as PNG atomically.
pub fn render_png<F>(path: &Path, size: (u32, u32), draw: F) -> Result<()>
where
    F: FnOnce(
        &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    ) -> std::result::Result<(), Box<dyn std::error::Error>>,
{
    ensure_font();
    let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| Error::Other(format!("plot {}: {e}", path.display())))?;
        draw(&root).map_err(|e| Error::Other(format!("plot {}: {e}", path.display())))?;
        root.present()
            .map_err(|e| Error::Other(format!("plot {}: {e}", path.display())))?;
    }
    let img = image::RgbImage::from_raw(size.0, size.1, buf)
        .ok_or_else(|| Error::Other("plot buffer size".into()))?;
    overlay::save_png(&img, path)
}

/// JET colour map on [0, 1] (clamped).
pub fn jet(x: f64) -> RGBColor {
    let x = if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let f = |c: f64| ((1.5 - (4.0 * x - c).abs()).clamp(0.0, 1.0) * 255.0) as u8;
    RGBColor(f(3.0), f(2.0), f(1.0))
}

pub type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// A figure that can be drawn on any plotters backend (so the same code writes PNG and SVG).
pub trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// Write a figure as PNG and, if `svg` is given, as SVG too (both atomically).
pub fn save_figure(fig: &impl Figure, png: &Path, svg: Option<&Path>) -> Result<()> {
    render_png(png, fig.size(), |root| fig.draw(root))?;
    if let Some(svg) = svg {
        ensure_font();
        let mut text = String::new();
        {
            let root = SVGBackend::with_string(&mut text, fig.size()).into_drawing_area();
            fig.draw(&root)
                .map_err(|e| Error::Other(format!("plot {}: {e}", svg.display())))?;
            root.present()
                .map_err(|e| Error::Other(format!("plot {}: {e}", svg.display())))?;
        }
        crate::io::write_atomic(svg, text.as_bytes())?;
    }
    Ok(())
}
