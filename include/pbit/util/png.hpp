// Minimal 8-bit grayscale PNG writer for sample grids.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pbit {

/// Writes a width x height grayscale image (row-major, 0 = black). Throws IoError.
void write_png_gray(const std::string& path, int32_t width, int32_t height, const std::vector<uint8_t>& pixels);

/// Tiles images (each rows x cols, +1 -> white, -1 -> black) into a grid with `per_row` images per row and
/// a 1-pixel gray border, and writes it as a PNG; each pixel drawn as a square of the fewest pixels
/// (up to 8) that make the grid at least `min_width` wide (0: one pixel each): 160 samples of 14 x 14
/// were 241 pixels wide, hard to read.
void write_spin_grid_png(const std::string& path, const std::vector<std::vector<int8_t>>& images, int32_t rows, int32_t cols,
                         int32_t per_row, int32_t min_width = 0);

}  // namespace pbit
