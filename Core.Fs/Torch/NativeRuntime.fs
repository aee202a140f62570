/// Settings that the native OpenMP runtime under libtorch reads once, when it loads: they must be made before
/// the first TorchSharp call of the process, so entry points (the CLI, the test runner) call configure first.
module Receptor.Core.Torch.NativeRuntime

open System
open System.Runtime.InteropServices

module private Libc =
    // .NET's Environment.SetEnvironmentVariable does not reach native getenv on Unix; libc's setenv does.
    [<DllImport("libc", SetLastError = true)>]
    extern int setenv(string name, string value, int overwrite)

/// OMP_WAIT_POLICY=PASSIVE, unless the environment says otherwise: idle OpenMP workers of libtorch's intra-op
/// pool then sleep instead of spinning. On a machine shared with other processes, spinning workers starve one
/// another: with other builds running on the 2 cores, a LeNet-5 training step (batch 64) took 1.2–1.3 s with
/// the default policy and 70–95 ms with PASSIVE. Call it before anything touches TorchSharp.
let configure () =
    if OperatingSystem.IsLinux() && String.IsNullOrEmpty(Environment.GetEnvironmentVariable "OMP_WAIT_POLICY") then
        Libc.setenv ("OMP_WAIT_POLICY", "PASSIVE", 0) |> ignore
