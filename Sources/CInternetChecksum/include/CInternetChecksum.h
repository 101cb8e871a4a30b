#ifndef CINTERNETCHECKSUM_H
#define CINTERNETCHECKSUM_H
#include <stddef.h>
#include <stdint.h>
#endif
