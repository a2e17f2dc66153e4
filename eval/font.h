/* font.h - the small bitmap font of legend images (internal to libhsi). */
#ifndef HSI_EVAL_FONT_H
#define HSI_EVAL_FONT_H

#define FONT_WIDTH 7   /* advance per character, pixels */
#define FONT_HEIGHT 13 /* ascent 10 + descent 3 */

/* Coverage 0..15 of pixel (row, col) of printable ASCII character c; 0 for
 * anything else. */
int eval_font_alpha(int c, int row, int col);

#endif
