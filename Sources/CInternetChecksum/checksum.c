#include "CInternetChecksum.h"
