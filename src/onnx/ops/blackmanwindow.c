/* BlackmanWindow (opset 17): see kernels/signal_window.h. */
#include "onnx/kernels/signal_window.h"

ONNX_SIGNAL_WINDOW_OPERATOR(BlackmanWindow, ONNX_SIGNAL_WINDOW_BLACKMAN)
