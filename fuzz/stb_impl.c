/* stb_impl.c: stb_image and stb_image_write compiled from Debian's libstb-dev headers into the
 * fuzzers, so the decoder is instrumented (coverage, ASan, UBSan) like our own code. The library
 * build links Debian's libstb.so, built from the same headers. */
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
