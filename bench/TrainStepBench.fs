/// Issue "Foundation II" item 7: one training step (forward, cross-entropy, backward, SGD with momentum) of
/// a small CNN on a batch of 128 images 3×32×32, three ways in one run — (a) the DSL-compiled module,
/// (b) the same network written by hand in TorchSharp, (c) Debian's PyTorch in a subprocess
/// (bench/train_step.py) — interleaved round by round so that machine drift hits all three alike.
module Receptor.Bench.TrainStepBench

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Torch

type Tensor = torch.Tensor
type Model = torch.nn.Module<Tensor, Tensor>

let batch = 128L
let learningRate = 0.001
let momentum = 0.9

/// CPU time of the whole process (all threads), as Python's time.process_time(): robust against other
/// processes taking the cores, which wall-clock time on a shared 2-core machine is not.
module Cpu =
    [<Struct; System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)>]
    type private Timespec =
        val mutable Seconds: int64
        val mutable Nanoseconds: int64

    [<System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")>]
    extern int private clock_gettime(int clock, Timespec& time)

    /// Milliseconds of CPU used by this process so far (CLOCK_PROCESS_CPUTIME_ID).
    let ms () =
        let mutable t = Timespec ()
        clock_gettime (2, &t) |> ignore
        float t.Seconds * 1000.0 + float t.Nanoseconds / 1e6

let median (xs: float seq) =
    let a = Array.ofSeq xs
    Array.sortInPlace a
    if a.Length = 0 then nan else a[a.Length / 2]

// ---------------------------------------------------------------------------------------------------
// The three models

/// (a) bench/smallcnn.rcp, parsed and compiled by Receptor.
let dslModel () : Network =
    let path = Path.Combine (AppContext.BaseDirectory, "smallcnn.rcp")
    match Parser.parseProgram path (File.ReadAllText path) |> Result.bind Network.ofProgram with
    | Ok network -> network
    | Error d -> failwith (Diagnostic.format d)

/// (b) The same network as a plain TorchSharp nn.Sequential (optionally with in-place ReLUs).
let handWrittenWith (inplaceRelu: bool) : Model =
    let block (cin: int64) (cout: int64) : Model list =
        [ torch.nn.Conv2d (cin, cout, 3L, padding = 1L, bias = false)
          torch.nn.BatchNorm2d cout
          torch.nn.ReLU (inplace = inplaceRelu) ]
    let layers: Model list =
        block 3L 32L @ block 32L 32L @ [ torch.nn.MaxPool2d 2L ]
        @ block 32L 64L @ block 64L 64L @ [ torch.nn.MaxPool2d 2L ]
        @ [ torch.nn.Flatten (); torch.nn.Linear (64L * 8L * 8L, 10L) ]
    torch.nn.Sequential (Array.ofList layers) :> Model

let handWritten () = handWrittenWith false

let parameterCount (m: torch.nn.Module) = m.parameters () |> Seq.sumBy (fun p -> p.numel ())

/// Parameters, then floating-point buffers (running mean and variance), in registration order.
let stateTensors (m: torch.nn.Module) : Tensor list =
    [ for p in m.parameters () -> p :> Tensor ]
    @ [ for b in m.buffers () do if b.dtype = torch.ScalarType.Float32 then b ]

/// Copies every parameter and buffer of `source` into `target`, checking that the shapes agree.
let copyWeights (source: torch.nn.Module) (target: torch.nn.Module) =
    let s, t = stateTensors source, stateTensors target
    if s.Length <> t.Length then failwithf "copyWeights: %d tensors vs %d" s.Length t.Length
    use _ = torch.no_grad ()
    for a, b in List.zip s t do
        if a.shape <> b.shape then failwithf "copyWeights: shape %A vs %A" a.shape b.shape
        b.copy_ a |> ignore

// ---------------------------------------------------------------------------------------------------
// One training step

/// One timed step: wall and CPU milliseconds, the wall milliseconds of each phase, and the loss.
type StepTime = { Wall: float; Cpu: float; Forward: float; ZeroGrad: float; Backward: float; Optimizer: float; Loss: float }

/// A model with its SGD optimiser and a fixed batch. A step is forward + cross-entropy,
/// zero_grad (set to none, as PyTorch's set_to_none=True; or zeroing in place, TorchSharp's
/// optimizer.zero_grad()), backward and the SGD step, in one dispose scope.
type Trainer(model: Model, x: Tensor, y: Tensor, ?zeroGradToNone: bool) =
    let optimizer = torch.optim.SGD (model.parameters (), learningRate, momentum)
    let toNone = defaultArg zeroGradToNone true
    let mutable batchX, batchY = x, y
    do model.train ()
    member _.Model = model
    /// Trains on the first n images of the batch from now on.
    member _.UseBatch(n: int64) =
        batchX <- (if n = x.shape[0] then x else x.narrow (0, 0L, n))
        batchY <- (if n = y.shape[0] then y else y.narrow (0, 0L, n))
    member _.Step() : StepTime =
        let cpu0 = Cpu.ms ()
        let watch = Stopwatch.StartNew ()
        use _ = torch.NewDisposeScope ()
        let loss = torch.nn.functional.cross_entropy (model.call batchX, batchY)
        let t1 = watch.Elapsed.TotalMilliseconds
        if toNone then model.zero_grad () else optimizer.zero_grad ()
        let t2 = watch.Elapsed.TotalMilliseconds
        loss.backward ()
        let t3 = watch.Elapsed.TotalMilliseconds
        optimizer.step () |> ignore
        let value = float (loss.item<float32> ())
        let t4 = watch.Elapsed.TotalMilliseconds
        { Wall = t4; Cpu = Cpu.ms () - cpu0; Forward = t1; ZeroGrad = t2 - t1; Backward = t3 - t2; Optimizer = t4 - t3; Loss = value }
    member this.Steps(n: int) = Array.init n (fun _ -> this.Step ())

// ---------------------------------------------------------------------------------------------------
// The PyTorch peer

/// The Python that has PyTorch: $RECEPTOR_PYTHON, else Debian's /usr/bin/python3 (python3-torch lives in
/// /usr/lib/python3/dist-packages, which a pyenv or venv python3 earlier on PATH does not see).
let pythonCandidates () =
    [ match Environment.GetEnvironmentVariable "RECEPTOR_PYTHON" with
      | null | "" -> ()
      | p -> p
      "/usr/bin/python3"
      "python3" ]

let private shell (file: string) (args: string) =
    try
        let info = ProcessStartInfo (file, args, RedirectStandardOutput = true, RedirectStandardError = true)
        use p = Process.Start info
        let out = p.StandardOutput.ReadToEnd ()
        let err = p.StandardError.ReadToEnd ()
        p.WaitForExit ()
        p.ExitCode, out + err
    with e -> -1, e.Message

let private hasTorch python = fst (shell python "-c \"import torch\"") = 0

/// A Python with torch, installing Debian's python3-torch when missing and allowed (root with apt-get).
let findPython (log: string -> unit) : Result<string, string> =
    match pythonCandidates () |> List.tryFind hasTorch with
    | Some p -> Ok p
    | None ->
        let how = "install Debian's PyTorch with: apt-get update && apt-get install -y python3-torch (or set RECEPTOR_PYTHON to a python with torch)"
        let isRoot = Environment.UserName = "root"
        if isRoot && File.Exists "/usr/bin/apt-get" then
            log "python3-torch missing: running apt-get update && apt-get install -y python3-torch (a few minutes, once)"
            let code, out = shell "/bin/sh" "-c \"apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch\""
            match pythonCandidates () |> List.tryFind hasTorch with
            | Some p -> Ok p
            | None -> Error (sprintf "apt-get exited %d; %s\n%s" code how (out.Substring (max 0 (out.Length - 2000))))
        else Error how

/// bench/train_step.py --serve: one JSON line per command.
type Peer(python: string, script: string, dataDir: string) =
    let info =
        ProcessStartInfo (python, sprintf "\"%s\" --serve --data \"%s\"" script dataDir,
                          RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false)
    let proc = Process.Start info
    member _.Ask(command: string) : JsonElement =
        proc.StandardInput.WriteLine command
        proc.StandardInput.Flush ()
        match proc.StandardOutput.ReadLine () with
        | null -> failwithf "train_step.py ended on '%s'" command
        | line ->
            let e = JsonDocument.Parse(line).RootElement
            match e.TryGetProperty "error" with
            | true, msg -> failwithf "train_step.py: %s" (msg.GetString ())
            | _ -> e
    member this.Steps(n: int) : StepTime[] =
        let e = this.Ask (sprintf "steps %d" n)
        [| for v in e.GetProperty("steps").EnumerateArray () ->
               let f (name: string) = v.GetProperty(name).GetDouble ()
               { Wall = f "wall"; Cpu = f "cpu"; Forward = f "forward"; ZeroGrad = f "zero_grad"
                 Backward = f "backward"; Optimizer = f "optimizer"; Loss = f "loss" } |]
    member this.Threads(n: int) = this.Ask (sprintf "threads %d" n) |> ignore
    member this.UseBatch(n: int64) = this.Ask (sprintf "batch %d" n) |> ignore
    /// Median (wall, CPU) milliseconds of forward and of forward+backward of one op case.
    member this.Op(index: int, reps: int) =
        let e = this.Ask (sprintf "op %d %d" index reps)
        let f (name: string) = e.GetProperty(name).GetDouble ()
        (f "forward_ms", f "forward_cpu_ms"), (f "forward_backward_ms", f "forward_backward_cpu_ms")
    interface IDisposable with
        member this.Dispose() =
            try
                proc.StandardInput.WriteLine "quit"
                proc.StandardInput.Flush ()
                if not (proc.WaitForExit 5000) then proc.Kill ()
            with _ -> ()
            proc.Dispose ()

/// Writes the weights and the batch for the peer: raw little-endian float32 / int64 and a manifest.
let writePeerData (dir: string) (model: torch.nn.Module) (x: Tensor) (y: Tensor) =
    Directory.CreateDirectory dir |> ignore
    let tensors = stateTensors model
    let names =
        [ for struct (n, _) in model.named_parameters () -> n ]
        @ [ for struct (n, b) in model.named_buffers () do if b.dtype = torch.ScalarType.Float32 then n ]
    use weights = new BinaryWriter (File.Create (Path.Combine (dir, "weights.f32")))
    for t in tensors do
        for v in t.contiguous().data<float32>().ToArray () do weights.Write v
    use input = new BinaryWriter (File.Create (Path.Combine (dir, "input.f32")))
    for v in x.contiguous().data<float32>().ToArray () do input.Write v
    use labels = new BinaryWriter (File.Create (Path.Combine (dir, "labels.i64")))
    for v in y.data<int64>().ToArray () do labels.Write v
    let manifest =
        {| input = x.shape
           tensors = [ for n, t in List.zip names tensors -> {| name = n; shape = t.shape |} ] |}
    File.WriteAllText (Path.Combine (dir, "manifest.json"), JsonSerializer.Serialize manifest)

let scriptPath () =
    let besideBinary = Path.Combine (AppContext.BaseDirectory, "train_step.py")
    if File.Exists besideBinary then besideBinary else Path.GetFullPath "bench/train_step.py"

// ---------------------------------------------------------------------------------------------------
// Each layer in isolation, at its real shape (the same cases as op_timings in train_step.py)

let opCases () : (string * (unit -> Model) * int64[]) list =
    [ "conv 3→32 @32²", (fun () -> torch.nn.Conv2d (3L, 32L, 3L, padding = 1L, bias = false) :> Model), [| batch; 3L; 32L; 32L |]
      "conv 32→32 @32²", (fun () -> torch.nn.Conv2d (32L, 32L, 3L, padding = 1L, bias = false)), [| batch; 32L; 32L; 32L |]
      "conv 32→64 @16²", (fun () -> torch.nn.Conv2d (32L, 64L, 3L, padding = 1L, bias = false)), [| batch; 32L; 16L; 16L |]
      "conv 64→64 @16²", (fun () -> torch.nn.Conv2d (64L, 64L, 3L, padding = 1L, bias = false)), [| batch; 64L; 16L; 16L |]
      "batchnorm 32 @32²", (fun () -> torch.nn.BatchNorm2d 32L), [| batch; 32L; 32L; 32L |]
      "relu 32 @32²", (fun () -> torch.nn.ReLU ()), [| batch; 32L; 32L; 32L |]
      "maxpool2 32 @32²", (fun () -> torch.nn.MaxPool2d 2L), [| batch; 32L; 32L; 32L |]
      "dense 4096→10", (fun () -> torch.nn.Linear (4096L, 10L)), [| batch; 4096L |] ]

/// Median (wall, CPU) milliseconds of `reps` calls after two unmeasured ones.
let timeBoth reps (f: unit -> unit) =
    for _ in 1 .. 2 do f ()
    let samples =
        [ for _ in 1 .. reps ->
            let c = Cpu.ms ()
            let w = Stopwatch.StartNew ()
            f ()
            w.Elapsed.TotalMilliseconds, Cpu.ms () - c ]
    median (List.map fst samples), median (List.map snd samples)

/// Median (wall, CPU) milliseconds of forward and of forward+backward of one layer.
let timeOp (make: unit -> Model) (shape: int64[]) reps =
    use m = make ()
    use input = torch.randn (shape, requires_grad = true)
    let time = timeBoth reps
    let forward () =
        use _ = torch.NewDisposeScope ()
        use _ = torch.no_grad ()
        m.call input |> ignore
    let forwardBackward () =
        use _ = torch.NewDisposeScope ()
        m.call(input).sum().backward ()
        input.grad <- null
        for p in m.parameters () do p.grad <- null
    time forward, time forwardBackward

// ---------------------------------------------------------------------------------------------------
// The run

type Options =
    { Rounds: int; Threads: int; OpReps: int }

    static member Default = { Rounds = 6; Threads = Environment.ProcessorCount; OpReps = 3 }

    static member Parse(args: string list) =
        let rec go (o: Options) args =
            match args with
            | [] -> Ok o
            | "--rounds" :: n :: rest -> go { o with Rounds = int n } rest
            | "--threads" :: n :: rest -> go { o with Threads = int n } rest
            | "--op-reps" :: n :: rest -> go { o with OpReps = int n } rest
            | a :: _ -> Error (sprintf "unknown argument %s" a)
        go Options.Default args

/// One line of the interleaved loop: how to prepare it (threads, batch size, layout) and run k timed steps.
type Variant = { Name: string; Prepare: unit -> unit; Run: int -> StepTime[]; PerRound: int; Warmup: int }

let private f1 (v: float) = sprintf "%.1f" v
let private f2 (v: float) = sprintf "%.2f" v
let private f3 (v: float) = sprintf "%.3f" v

let private env name =
    match Environment.GetEnvironmentVariable name with
    | null | "" -> "unset"
    | v -> v

let run (options: Options) (log: string -> unit) : Result<string, string> =
    match findPython log with
    | Error how -> Error how
    | Ok python ->
    let started = Stopwatch.StartNew ()
    let t = options.Threads
    let defaultThreads, defaultInterop = torch.get_num_threads (), torch.get_num_interop_threads ()
    torch.manual_seed 0L |> ignore
    use dsl = dslModel ()
    use hand = handWritten ()
    copyWeights dsl hand
    use x = torch.randn (batch, 3L, 32L, 32L)
    use y = torch.randint (10L, [| batch |], dtype = torch.ScalarType.Int64)
    let dataDir = Path.Combine (Path.GetTempPath (), sprintf "receptor-train-step-%d" Environment.ProcessId)
    writePeerData dataDir dsl x y
    use peer = new Peer (python, scriptPath (), dataDir)
    let peerInfo = peer.Ask "info"
    let torchVersion = peerInfo.GetProperty("torch").GetString ()
    use handInplace = handWrittenWith true
    copyWeights dsl handInplace
    let a = Trainer (dsl, x, y)
    let b = Trainer (hand, x, y)
    let bInplace = Trainer (handInplace, x, y)
    use handZeroing = handWritten ()
    copyWeights dsl handZeroing
    let bZeroing = Trainer (handZeroing, x, y, zeroGradToNone = false)

    // Same computation: parameter counts, and the first losses from identical weights and batch.
    log "checking that the three compute the same losses"
    torch.set_num_threads t
    peer.Threads t
    let check = [ a.Steps 3; b.Steps 3; peer.Steps 3 ] |> List.map (Array.map (fun s -> s.Loss))
    let relDiff (u: float[]) (v: float[]) = Array.map2 (fun p q -> abs (p - q) / max 1e-12 (abs q)) u v |> Array.max
    let dslVsHand, handVsPy = relDiff check[0] check[1], relDiff check[1] check[2]

    let dotnet name (trainer: Trainer) threads batchSize channelsLast perRound =
        { Name = name; PerRound = perRound; Warmup = (if batchSize = 1L then 5 else 1)
          Prepare = (fun () ->
              torch.set_num_threads threads
              trainer.UseBatch batchSize
              dsl.ChannelsLast <- channelsLast)
          Run = trainer.Steps }
    let py name threads batchSize layout perRound =
        { Name = name; PerRound = perRound; Warmup = (if batchSize = 1L then 5 else 1)
          Prepare = (fun () ->
              peer.Threads threads
              peer.UseBatch batchSize
              peer.Ask (sprintf "layout %s" layout) |> ignore)
          Run = peer.Steps }
    let main =
        [ dotnet (sprintf "(a) DSL-compiled (TorchSharp), %d threads" t) a t batch true 1
          dotnet (sprintf "(b) hand-written TorchSharp, %d threads" t) b t batch true 1
          py (sprintf "(c) PyTorch %s, %d threads" torchVersion t) t batch "nchw" 1 ]
    let aNchw = dotnet "(a) with ChannelsLast = false (NCHW)" a t batch false 1
    let cCl = py "(c) channels-last input" t batch "channels_last" 1
    let a1 = dotnet "(a), 1 thread" a 1 batch true 1
    let c1 = py "(c), 1 thread (PyTorch's own default here)" 1 batch "nchw" 1
    let b1 = dotnet "(b), 1 thread" b 1 batch true 1
    let bInplace1 = dotnet "(b) with in-place ReLU, 1 thread" bInplace 1 batch true 1
    let bZeroing1 = dotnet "(b) zeroing gradients (optimizer.zero_grad), 1 thread" bZeroing 1 batch true 1
    let aB1 = dotnet "(a), batch 1, 1 thread" a 1 1L true 10
    let bB1 = dotnet "(b), batch 1, 1 thread" b 1 1L true 10
    let cB1 = py "(c), batch 1, 1 thread" 1 1L "nchw" 10
    let probes = [ aNchw; cCl; a1; c1; b1; bInplace1; bZeroing1; aB1; bB1; cB1 ]
    let variants = main @ probes
    let results = variants |> List.map (fun v -> v.Name, ResizeArray<StepTime> ()) |> dict

    log "warm-up"
    for v in variants do
        v.Prepare ()
        v.Run v.Warmup |> ignore
    let n = variants.Length
    for r in 1 .. options.Rounds do
        log (sprintf "round %d of %d" r options.Rounds)
        for i in 0 .. n - 1 do
            let v = variants[(i + r) % n]
            v.Prepare ()
            results[v.Name].AddRange (v.Run v.PerRound)
    let loopSeconds = started.Elapsed.TotalSeconds

    // Each layer alone, TorchSharp then PyTorch, layer by layer, 1 thread, NCHW.
    log "layers in isolation"
    torch.set_num_threads 1
    peer.Threads 1
    let ops =
        opCases ()
        |> List.mapi (fun i (name, make, shape) ->
            let (tf, tfc), (tb, tbc) = timeOp make shape options.OpReps
            let (pf, pfc), (pb, pbc) = peer.Op (i, options.OpReps)
            name, (tf, tfc, tb, tbc), (pf, pfc, pb, pbc))
    torch.set_num_threads t
    dsl.ChannelsLast <- true

    // Making the batch from managed memory each step instead of reusing one tensor.
    let managed = Array.init (int (batch * 3L * 32L * 32L)) (fun i -> float32 (i % 255) / 255.0f)
    let fromArrayMs, _ =
        timeBoth 50 (fun () -> use t = torch.tensor (managed, ReadOnlySpan<int64> [| batch; 3L; 32L; 32L |]) in ())
    Directory.Delete (dataDir, true)

    let stat (name: string) (f: StepTime -> float) = median (results[name] |> Seq.map f)
    let wall name = stat name (fun s -> s.Wall)
    let cpu name = stat name (fun s -> s.Cpu)
    let finalLoss name = results[name] |> Seq.last |> fun s -> s.Loss
    let name (v: Variant) = v.Name
    let aName, bName, cName = name main[0], name main[1], name main[2]
    let images ms = float batch / (ms / 1000.0)
    let cpuModel =
        try
            File.ReadLines "/proc/cpuinfo" |> Seq.tryFind (fun l -> l.StartsWith "model name")
            |> Option.map (fun l -> l.Substring(l.IndexOf ':' + 1).Trim ()) |> Option.defaultValue "?"
        with _ -> "?"
    let load = try File.ReadAllText("/proc/loadavg").Split(' ')[0] with _ -> "?"
    let row (v: Variant) =
        let n = v.Name
        let batchSize = if n.Contains "batch 1" then 1.0 else float batch
        sprintf "| %s | %s | %s | %s | %s | %s | %s | %d |" n (f1 (wall n)) (sprintf "%.0f" (batchSize / (wall n / 1000.0)))
            (f1 (cpu n)) (f1 (stat n (fun s -> s.Forward))) (f1 (stat n (fun s -> s.Backward)))
            (f2 (stat n (fun s -> s.Optimizer))) results[n].Count
    let ratioRow label num den target =
        sprintf "| %s | %s | %s | %s |" label (f3 (wall num / wall den)) (f3 (cpu num / cpu den)) target
    let losses (xs: float[]) = xs |> Array.map (sprintf "%.5f") |> String.concat ", "
    [ "## Training step (issue: Foundation II)"
      ""
      sprintf "Machine: %d cores (%s), shared with other jobs (load average %s at the end of the run). TorchSharp 0.107.0 on libtorch 2.10.0 (default %d intra-op / %d inter-op threads); PyTorch %s from Debian's python3-torch (default %d intra-op / %d inter-op threads). OMP_NUM_THREADS %s, MKL_NUM_THREADS %s, OMP_WAIT_POLICY %s."
          Environment.ProcessorCount cpuModel load defaultThreads defaultInterop torchVersion
          (peerInfo.GetProperty("threads").GetInt32 ()) (peerInfo.GetProperty("interop_threads").GetInt32 ())
          (env "OMP_NUM_THREADS") (env "MKL_NUM_THREADS") (env "OMP_WAIT_POLICY")
      ""
      sprintf "Command: `dotnet run -c Release --project bench -- train-step` (defaults: `--rounds %d --threads %d --op-reps %d`); this run: `--rounds %d --threads %d --op-reps %d`, %.0f s for the interleaved loop, %.0f s in all."
          Options.Default.Rounds Options.Default.Threads Options.Default.OpReps options.Rounds t options.OpReps
          loopSeconds started.Elapsed.TotalSeconds
      ""
      sprintf "One step = forward, cross-entropy, zero_grad (set to none), backward, SGD (lr %g, momentum %g) on one fixed batch of %d images 3×32×32; model `bench/smallcnn.rcp` (conv3×3 32 → bn → relu → conv3×3 32 → bn → relu → maxpool2 → conv3×3 64 → bn → relu → conv3×3 64 → bn → relu → maxpool2 → flatten → dense 10). (b) is the same network as a plain TorchSharp `nn.Sequential`, (c) the same in PyTorch, run by `bench/train_step.py` in a subprocess that answers the .NET side between its own steps. All variants are interleaved round by round (order rotated each round), one dispose scope per step; figures are medians. Wall = elapsed time per step; CPU = the process's CPU time per step (all threads), which other jobs on the machine disturb far less than wall time."
          learningRate momentum batch
      ""
      "| variant | ms/step (wall) | images/s | CPU ms/step | forward ms | backward ms | optimizer ms | steps |"
      "|---|---|---|---|---|---|---|---|"
      variants |> List.map row |> String.concat "\n"
      ""
      "| ratio (speed: time of the peer / time of ours) | wall | CPU | target |"
      "|---|---|---|---|"
      ratioRow "DSL vs hand-written: (b) / (a)" bName aName "≥ 0.97"
      ratioRow "DSL vs hand-written, both NCHW: (b) / (a NCHW)" bName aNchw.Name "≥ 0.97"
      ratioRow "TorchSharp vs PyTorch: (c) / (a)" cName aName "≥ 1.0"
      ratioRow "TorchSharp vs PyTorch, both NCHW: (c) / (b)" cName bName "≥ 1.0"
      ratioRow "TorchSharp vs PyTorch, both channels-last: (c channels-last) / (a)" cCl.Name aName "≥ 1.0"
      ratioRow "TorchSharp vs PyTorch, both 1 thread: (c, 1 thread) / (a, 1 thread)" c1.Name a1.Name ""
      ratioRow "DSL vs hand-written, both 1 thread: (b, 1 thread) / (a, 1 thread)" b1.Name a1.Name ""
      ratioRow "2 threads vs 1 thread, DSL: (a, 1 thread) / (a)" a1.Name aName ""
      ratioRow "in-place ReLU, hand-written, 1 thread: (b) / (b in-place)" b1.Name bInplace1.Name ""
      ratioRow "set-to-none vs zeroing gradients, 1 thread: (b zeroing) / (b)" bZeroing1.Name b1.Name ""
      ratioRow "per-step overhead, batch 1: (b) / (a)" bB1.Name aB1.Name ""
      ratioRow "per-step overhead, batch 1: (c) / (a)" cB1.Name aB1.Name ""
      ""
      sprintf "Same computation: %d parameters (DSL) / %d (hand-written) / %d (PyTorch). Losses of the first 3 steps from identical weights and batch: %s (DSL), %s (hand-written), %s (PyTorch); largest relative difference DSL–hand %.1e, hand–PyTorch %.1e. Last losses of the run: %.3g / %.3g / %.3g."
          (parameterCount dsl) (parameterCount hand) (peerInfo.GetProperty("parameters").GetInt64 ())
          (losses check[0]) (losses check[1]) (losses check[2]) dslVsHand handVsPy
          (finalLoss aName) (finalLoss bName) (finalLoss cName)
      ""
      sprintf "Each layer alone at its shape in the network, batch %d, NCHW, 1 thread, median of %d (wall ms / CPU ms):" batch options.OpReps
      ""
      "| layer | TorchSharp forward | PyTorch forward | TorchSharp fwd+bwd | PyTorch fwd+bwd | fwd+bwd CPU, PyTorch / TorchSharp |"
      "|---|---|---|---|---|---|"
      ops
      |> List.map (fun (name, (tf, tfc, tb, tbc), (pf, pfc, pb, pbc)) ->
          sprintf "| %s | %s / %s | %s / %s | %s / %s | %s / %s | %s |" name (f1 tf) (f1 tfc) (f1 pf) (f1 pfc) (f1 tb) (f1 tbc) (f1 pb) (f1 pbc) (f2 (pbc / tbc)))
      |> String.concat "\n"
      ""
      sprintf "Building the %d×3×32×32 batch from a managed float[] (instead of reusing one tensor) would add %.2f ms per step." batch fromArrayMs ]
    |> String.concat "\n"
    |> Ok

/// Forward + backward CPU time of zoo networks, NCHW vs channels-last input (the layout the compiler
/// picks on the CPU): batch 4, 1 thread.
let layoutZoo (names: string list) (log: string -> unit) =
    torch.set_num_threads 1
    let rows =
        [ for name in names do
            log name
            let path = Path.Combine ("Examples/zoo", name + ".rcp")
            match Parser.parseProgram path (File.ReadAllText path) |> Result.bind Network.ofProgram with
            | Error d -> failwith (Diagnostic.format d)
            | Ok net ->
                use net = net
                net.train ()
                let shape = match net.Input with Spatial (c, h, w) -> [| 4L; int64 c; int64 h; int64 w |] | _ -> failwith "flat input"
                use x = torch.randn shape
                let step channelsLast () =
                    use _ = torch.NewDisposeScope ()
                    net.ChannelsLast <- channelsLast
                    net.call(x).sum().backward ()
                    net.zero_grad ()
                step false ()
                step true ()
                let nchw, last = ResizeArray (), ResizeArray ()
                for _ in 1 .. 3 do
                    nchw.Add (snd (timeBoth 1 (step false)))
                    last.Add (snd (timeBoth 1 (step true)))
                sprintf "| %s | %.0f | %.0f | %.2f |" name (median nchw) (median last) (median nchw / median last) ]
    [ "| network (batch 4, 1 thread) | NCHW CPU ms | channels-last CPU ms | speed-up |"; "|---|---|---|---|" ] @ rows
    |> String.concat "\n"
