/// Settings that the native OpenMP runtime under libtorch reads once, when it loads: they must be made before
/// the first TorchSharp call of the process, so entry points (the CLI, the test runner) call configure first.
module Receptor.Core.Torch.NativeRuntime

open System
open System.IO
open System.Runtime.InteropServices

module private Libc =
    // .NET's Environment.SetEnvironmentVariable does not reach native getenv on Unix; libc's setenv does.
    [<DllImport("libc", SetLastError = true)>]
    extern int setenv(string name, string value, int overwrite)

/// Sets a variable for the native libraries unless the environment already does.
let private setDefault name value =
    if String.IsNullOrEmpty(Environment.GetEnvironmentVariable name) then
        Libc.setenv (name, value, 0) |> ignore

/// Whether the processor is an AMD one with AVX-512 (Zen 4 and later), read from /proc/cpuinfo.
let private amdWithAvx512 () =
    try
        let info = File.ReadAllText "/proc/cpuinfo"
        info.Contains "AuthenticAMD" && info.Contains "avx512f"
    with :? IOException | :? UnauthorizedAccessException -> false

/// Call it before anything touches TorchSharp.
///
/// OMP_WAIT_POLICY=PASSIVE: idle OpenMP workers of libtorch's intra-op pool then sleep instead of spinning. On
/// a machine shared with other processes, spinning workers starve one another: with other builds running on
/// the 2 cores, a LeNet-5 training step (batch 64) took 1.2–1.3 s with the default policy and 70–95 ms with
/// PASSIVE.
///
/// DNNL_MAX_CPU_ISA=AVX2: on the AVX-512 machine the tests run on, oneDNN's AVX-512 convolution backward
/// pass (the input's gradient) returned NaN now and then when the channel count is not a multiple of 16
/// (3×3 convolutions, 32 images of 12×12: 1 in 40 passes at 8 channels, 5 in 40 at 10, none at 16 or 32;
/// none of 160 with AVX2), which made training diverge and GradInit's gradient norms NaN at random.
/// On AMD processors with AVX-512 (the project's AMD EPYC machines) the AVX2 kernels fail too: a small fully
/// convolutional net trained on per-pixel targets diverged at its second step in every run, and the batched
/// ERF differed from the per-sample loop in most; both pass every time with SSE4.1, so those machines get
/// DNNL_MAX_CPU_ISA=SSE41, at a cost (a mnist4bn epoch: 610 images/s against 775–845 with AVX2).
let configure () =
    if OperatingSystem.IsLinux() then
        setDefault "OMP_WAIT_POLICY" "PASSIVE"
        setDefault "DNNL_MAX_CPU_ISA" (if amdWithAvx512 () then "SSE41" else "AVX2")
