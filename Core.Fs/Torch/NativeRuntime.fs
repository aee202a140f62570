/// Settings that native libraries under libtorch (its OpenMP runtime, oneDNN) read once, when they load or
/// first run: they must be made before the first TorchSharp call of the process, so entry points (the CLI,
/// the test runner, the benchmarks) call configure first.
module Receptor.Core.Torch.NativeRuntime

open System
open System.IO
open System.Runtime.InteropServices

module private Libc =
    // .NET's Environment.SetEnvironmentVariable does not reach native getenv on Unix; libc's setenv does.
    [<DllImport("libc", SetLastError = true)>]
    extern int setenv(string name, string value, int overwrite)

/// Sets a native environment variable unless the environment already gives it a value.
let private setDefault name value =
    if String.IsNullOrEmpty (Environment.GetEnvironmentVariable name) then
        Libc.setenv (name, value, 0) |> ignore

/// Whether the processor is an AMD one with AVX-512 (Zen 4 and later), read from /proc/cpuinfo.
let private amdWithAvx512 () =
    try
        let info = File.ReadAllText "/proc/cpuinfo"
        info.Contains "AuthenticAMD" && info.Contains "avx512f"
    with _ -> false

/// OMP_WAIT_POLICY=PASSIVE, unless the environment says otherwise: idle OpenMP workers of libtorch's intra-op
/// pool then sleep instead of spinning. On a machine shared with other processes, spinning workers starve one
/// another: with other builds running on the 2 cores, a LeNet-5 training step (batch 64) took 1.2–1.3 s with
/// the default policy and 70–95 ms with PASSIVE.
/// DNNL_MAX_CPU_ISA=AVX2 on AMD processors with AVX-512, unless set: there libtorch 2.10's oneDNN kernels
/// for AVX-512 return NaN where the AVX2 ones do not (GradInit's gradient norms on an AMD EPYC; the same
/// tests pass with the variable set), so oneDNN is kept to AVX2 on those machines.
/// Call it before anything touches TorchSharp.
let configure () =
    if OperatingSystem.IsLinux() then
        setDefault "OMP_WAIT_POLICY" "PASSIVE"
        if amdWithAvx512 () then setDefault "DNNL_MAX_CPU_ISA" "AVX2"
