//! The pixel work: a [`Processor`] applies one [`Filter`] to the frames of one stream,
//! with the image and imageproc crates.

use image::{DynamicImage, GrayImage, imageops::FilterType};

use super::Filter;

/// Applies one filter to the frames of one stream, in order.
#[derive(Debug, Clone)]
pub struct Processor {
    filter: Filter,
    /// The previous frame in gray, for the motion filter.
    previous: Option<GrayImage>,
}

impl Processor {
    /// A processor for a new stream.
    pub fn new(filter: Filter) -> Self {
        Self {
            filter,
            previous: None,
        }
    }

    /// The filter applied to `picture`.
    pub fn process(&mut self, picture: &DynamicImage) -> DynamicImage {
        match self.filter {
            Filter::Grayscale => DynamicImage::ImageLuma8(picture.to_luma8()),
            Filter::GaussianBlur { sigma } => match picture {
                DynamicImage::ImageLuma8(gray) => {
                    DynamicImage::ImageLuma8(imageproc::filter::gaussian_blur_f32(gray, sigma))
                }
                other => DynamicImage::ImageRgb8(imageproc::filter::gaussian_blur_f32(
                    &other.to_rgb8(),
                    sigma,
                )),
            },
            Filter::Canny { low, high } => {
                DynamicImage::ImageLuma8(imageproc::edges::canny(&picture.to_luma8(), low, high))
            }
            Filter::Sobel => {
                let gradients = imageproc::gradients::sobel_gradients(&picture.to_luma8());
                let magnitude =
                    GrayImage::from_fn(gradients.width(), gradients.height(), |x, y| {
                        image::Luma([gradients.get_pixel(x, y)[0].min(255) as u8])
                    });
                DynamicImage::ImageLuma8(magnitude)
            }
            Filter::Invert => {
                let mut inverted = picture.clone();
                inverted.invert();
                inverted
            }
            Filter::Resize { width, height } => {
                picture.resize_exact(width, height, FilterType::Triangle)
            }
            Filter::Motion { threshold } => {
                let gray = picture.to_luma8();
                let moved = match &self.previous {
                    Some(previous) if previous.dimensions() == gray.dimensions() => {
                        GrayImage::from_fn(gray.width(), gray.height(), |x, y| {
                            let diff =
                                gray.get_pixel(x, y)[0].abs_diff(previous.get_pixel(x, y)[0]);
                            image::Luma([if diff > threshold { 255 } else { 0 }])
                        })
                    }
                    // The first frame, or a change of size: nothing to compare with.
                    _ => GrayImage::new(gray.width(), gray.height()),
                };
                self.previous = Some(gray);
                DynamicImage::ImageLuma8(moved)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use image::RgbImage;

    use super::*;

    fn gradient(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 8) as u8, 128])
        })
    }

    #[test]
    fn filters_match_the_libraries_and_known_pixels() {
        let rgb = DynamicImage::ImageRgb8(gradient(32, 24));
        let run = |filter| Processor::new(filter).process(&rgb);
        assert_eq!(run(Filter::Grayscale).to_luma8(), rgb.to_luma8());
        let inverted = run(Filter::Invert).to_rgb8();
        assert_eq!(inverted.get_pixel(3, 2).0, [255 - 24, 255 - 16, 127]);
        assert_eq!(
            run(Filter::GaussianBlur { sigma: 1.5 }).to_rgb8(),
            imageproc::filter::gaussian_blur_f32(&rgb.to_rgb8(), 1.5)
        );
        assert_eq!(
            run(Filter::Canny {
                low: 10.0,
                high: 30.0
            })
            .to_luma8(),
            imageproc::edges::canny(&rgb.to_luma8(), 10.0, 30.0)
        );
        let resized = run(Filter::Resize {
            width: 8,
            height: 6,
        });
        assert_eq!((resized.width(), resized.height()), (8, 6));
        // Sobel on a flat picture is zero everywhere.
        let flat = DynamicImage::ImageLuma8(GrayImage::from_pixel(16, 16, image::Luma([90])));
        let sobel = Processor::new(Filter::Sobel).process(&flat).to_luma8();
        assert!(sobel.pixels().all(|p| p[0] == 0));
    }

    #[test]
    fn motion_shows_what_changed_since_the_previous_frame() {
        let mut motion = Processor::new(Filter::Motion { threshold: 25 });
        let still = GrayImage::from_pixel(10, 10, image::Luma([100]));
        let mut moved = still.clone();
        moved.put_pixel(4, 5, image::Luma([200]));
        moved.put_pixel(6, 6, image::Luma([110])); // below the threshold
        let first = motion
            .process(&DynamicImage::ImageLuma8(still.clone()))
            .to_luma8();
        assert!(
            first.pixels().all(|p| p[0] == 0),
            "nothing to compare the first frame with"
        );
        let second = motion.process(&DynamicImage::ImageLuma8(moved)).to_luma8();
        let white: Vec<_> = second
            .enumerate_pixels()
            .filter(|(_, _, p)| p[0] == 255)
            .map(|(x, y, _)| (x, y))
            .collect();
        assert_eq!(white, [(4, 5)]);
    }
}
