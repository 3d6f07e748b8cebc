"""Latency of one estimate through the Python binding, beside the native
figure of build/bench_estimate (same model and settings: llama-3.1-8b,
batch 8, context 4096).

    python/.venv/bin/python python/bench_binding.py [MODEL] [RUNS]
"""

import ctypes
import json
import sys
import time

import gpumem
from gpumem import _binding, _capi


def per_call_us(fn, runs):
    fn()
    t0 = time.perf_counter()
    for _ in range(runs):
        fn()
    return (time.perf_counter() - t0) / runs * 1e6


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "llama-3.1-8b"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    model = gpumem.Model(name)
    lib = _capi.lib
    s = _capi.Settings()
    lib.gpumem_settings_init(ctypes.byref(s))
    s.batch, s.context = 8, 4096
    est, err = _capi.Estimate(), _capi.Error()
    raw = (lambda: lib.gpumem_estimate_inference(model._ptr, ctypes.byref(s),
                                                 ctypes.byref(est), ctypes.byref(err)))
    raw()
    text = _capi.take_string(lib.gpumem_report_json(model._ptr, ctypes.byref(est)))
    rows = [
        ("gpumem.estimate(name, batch=8, context=4096): load, estimate, JSON, dict",
         per_call_us(lambda: gpumem.estimate(name, batch=8, context=4096), runs)),
        ("Model.estimate(batch=8, context=4096): model loaded once",
         per_call_us(lambda: model.estimate(batch=8, context=4096), runs)),
        ("  of which: keyword arguments -> gpumem_settings",
         per_call_us(lambda: _binding._settings(_binding._normalise(
             dict(batch=8, context=4096), _binding.INFERENCE_OPTIONS, "inference")), runs)),
        ("  of which: gpumem_estimate_inference through ctypes", per_call_us(raw, runs * 10)),
        ("  of which: gpumem_report_json (C, jansson) + free",
         per_call_us(lambda: _capi.take_string(
             lib.gpumem_report_json(model._ptr, ctypes.byref(est))), runs)),
        ("  of which: json.loads (%d bytes)" % len(text),
         per_call_us(lambda: json.loads(text), runs)),
        ("gpumem.Model(name) load + free", per_call_us(lambda: gpumem.Model(name).close(),
                                                       runs // 10)),
    ]
    for label, us in rows:
        print("%-72s %8.2f us" % (label, us))
    model.close()


if __name__ == "__main__":
    main()
