/// `receptor search space FILE` (a space's size, choice points and samples) and `receptor search run SPACE`
/// (a study: created or continued in its store, run by workers, shown live, then its leaderboard, its best
/// architecture and, with --retrain, that architecture's test accuracy).
module Receptor.Cli.Commands.SearchRun

open System
open System.Diagnostics
open System.Globalization
open System.IO
open System.Threading
open Argu
open Spectre.Console
open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Core.Signal
open Receptor.Core.Training
open Receptor.Search
open Receptor.Cli.Common

type SpaceOptions = { File: string; Samples: int; Seed: int }

type RunOptions =
    { File: string
      Strategy: Strategies.Strategy
      Trials: int
      Epochs: int
      Workers: int
      /// None: NAME.study.db in the working folder.
      Storage: Storage option
      Init: string
      Data: string
      Validation: int
      Batch: int
      LearningRate: float option
      /// Seeds each candidate trains with (its metrics their means).
      Repeats: int
      Constraints: Constraints.Constraints
      Ranking: Strategies.Ranking option
      Seed: int
      TrialSeconds: float option
      Retrain: int option
      Plot: string option }

let defaultSamples = 3
let defaultTrials = 20
let defaultEpochs = 1
let defaultValidation = 1000
let defaultPopulation, defaultTournament = 20, 5
let defaultEta = 3
let private methodsText = String.Join(", ", InitSpec.methods)

type SpaceArgs =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | Samples of count: int
    | Seed of seed: int

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | File _ -> "the search space (.rcp with choice points)"
            | Samples _ -> $"networks to draw and print (default {defaultSamples})"
            | Seed _ -> "seed of the draws (default 1)"

type RunArgs =
    | [<MainCommand; ExactlyOnce>] Space of path: string
    | Strategy of name: string
    | Trials of count: int
    | Epochs of count: int
    | Workers of count: int
    | Storage of store: string
    | Init of method: string
    | Data of name: string
    | Validation of images: int
    | Batch of size: int
    | Lr of rate: float
    | Repeats of seeds: int
    | Population of size: int
    | Tournament of size: int
    | Eta of factor: int
    | Max_Macs of count: int64
    | Max_Params of count: int64
    | Min_Field of pixels: int
    | Variance of low: float * high: float
    | Rank of proxy: string
    | Pool of count: int
    | Seed of seed: int
    | Trial_Seconds of seconds: float
    | Retrain of epochs: int
    | Plot of path: string

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Space _ -> "the search space (.rcp with choice points)"
            | Strategy _ -> "random, evolution (aging, the default) or asha"
            | Trials _ -> $"candidates to evaluate; those the constraints reject cost nothing and do not count (default {defaultTrials})"
            | Epochs _ -> $"epochs each candidate trains (ASHA: at the top rung) (default {defaultEpochs})"
            | Workers _ -> "worker processes, this one included (default 1)"
            | Storage _ -> "the study's store: sqlite:PATH (default sqlite:NAME.study.db, NAME the space's network), postgres://USER@HOST/DB, postgres:env:VARIABLE or postgres:file:PATH; a trailing #NAME names the study"
            | Init _ -> $"how candidates are initialised: {methodsText} (default autoinit)"
            | Data _ -> $"the training images: {DataSources.names DataSources.labelled} (default mnist)"
            | Validation _ -> $"training images held out to score candidates (default {defaultValidation}); the test images are not looked at"
            | Batch _ -> $"mini-batch size (default {TrainOptions.defaults.BatchSize})"
            | Lr _ -> $"learning rate (default {Optimizer.defaultLearningRate TrainOptions.defaults.Optimizer}, SGD with Nesterov momentum, cosine)"
            | Repeats _ -> "seeds each candidate trains with, its scores their means: selection then sees the network more than the seed (default 1)"
            | Population _ -> $"evolution: the population, the most recent evaluated trials (default {defaultPopulation})"
            | Tournament _ -> $"evolution: trials drawn from it, the best of which is mutated (default {defaultTournament})"
            | Eta _ -> $"ASHA: the reduction factor between rungs (default {defaultEta})"
            | Max_Macs _ -> "reject candidates with more multiply-accumulates per image, before training"
            | Max_Params _ -> "reject candidates with more parameters, before training"
            | Min_Field _ -> "reject candidates whose receptive field is smaller, in pixels, before training"
            | Variance _ -> "reject candidates whose predicted variance at some node (before a ReLU-gated readout) leaves LOW..HIGH under --init"
            | Rank _ -> "pre-screen uniform draws by a zero-cost proxy of the initialised network: synflow, naswot or grad-norm"
            | Pool _ -> $"with --rank: fresh candidates drawn per proposal, the best-scoring proposed (default {Strategies.defaultPool})"
            | Seed _ -> "seed of the proposals; trial n trains with seed + n (default 1)"
            | Trial_Seconds _ -> "end a trial running longer as timed out"
            | Retrain _ -> "then train the best architecture this many epochs on all training images and report its test accuracy"
            | Plot _ -> "write validation accuracy against MACs with the Pareto front to this PNG"

let private atLeastOne name (value: int) = if value >= 1 then Ok value else Error $"--{name} must be at least 1, got {value}"

let spaceOptions (a: ParseResults<SpaceArgs>) : Result<SpaceOptions, string> =
    atLeastOne "samples" (a.GetResult(SpaceArgs.Samples, defaultSamples))
    |> Result.map (fun samples -> { File = a.GetResult SpaceArgs.File; Samples = samples; Seed = a.GetResult(SpaceArgs.Seed, 1) })

let runOptions (a: ParseResults<RunArgs>) : Result<RunOptions, string> =
    let strategy =
        match a.TryGetResult RunArgs.Strategy |> Option.defaultValue "evolution" |> Strategies.parseName with
        | Ok (Strategies.Evolution _) ->
            Ok (Strategies.Evolution (a.GetResult(RunArgs.Population, defaultPopulation), a.GetResult(RunArgs.Tournament, defaultTournament)))
        | Ok (Strategies.Asha _) -> Ok (Strategies.Asha (a.GetResult(RunArgs.Eta, defaultEta)))
        | Ok Strategies.Queue -> Error "--strategy queue proposes nothing; use random, evolution or asha"
        | other -> other
    let storage =
        match a.TryGetResult RunArgs.Storage with
        | Some s -> storage s |> Result.map Some
        | None -> Ok None
    let checks =
        [ atLeastOne "trials" (a.GetResult(RunArgs.Trials, defaultTrials))
          atLeastOne "epochs" (a.GetResult(RunArgs.Epochs, defaultEpochs))
          atLeastOne "workers" (a.GetResult(RunArgs.Workers, 1))
          atLeastOne "validation" (a.GetResult(RunArgs.Validation, defaultValidation))
          atLeastOne "batch" (a.GetResult(RunArgs.Batch, TrainOptions.defaults.BatchSize))
          atLeastOne "repeats" (a.GetResult(RunArgs.Repeats, 1))
          atLeastOne "population" (a.GetResult(RunArgs.Population, defaultPopulation))
          atLeastOne "tournament" (a.GetResult(RunArgs.Tournament, defaultTournament))
          atLeastOne "eta" (a.GetResult(RunArgs.Eta, defaultEta) - 1) |> Result.mapError (fun _ -> "--eta must be at least 2") ]
    let ranking =
        match a.TryGetResult RunArgs.Rank, a.TryGetResult RunArgs.Pool with
        | None, None -> Ok None
        | None, Some _ -> Error "--pool needs --rank"
        | Some proxy, pool ->
            ZeroCost.parse proxy
            |> Result.mapError (fun e -> $"--rank: {e}")
            |> Result.bind (fun proxy ->
                atLeastOne "pool" (defaultArg pool Strategies.defaultPool)
                |> Result.map (fun pool -> Some ({ Proxy = proxy; Pool = pool }: Strategies.Ranking)))
    let init = a.GetResult(RunArgs.Init, "autoinit")
    match checks |> List.tryPick (function Error e -> Some e | Ok _ -> None), strategy, storage, ranking with
    | Some e, _, _, _ | _, Error e, _, _ | _, _, Error e, _ | _, _, _, Error e -> Error e
    | None, _, _, _ when not (List.contains init InitSpec.methods) ->
        Error $"--init: unknown method '{init}' ({methodsText})"
    | None, Ok strategy, Ok storage, Ok ranking ->
        Ok
            { File = a.GetResult RunArgs.Space
              Strategy = strategy
              Trials = a.GetResult(RunArgs.Trials, defaultTrials)
              Epochs = a.GetResult(RunArgs.Epochs, defaultEpochs)
              Workers = a.GetResult(RunArgs.Workers, 1)
              Storage = storage
              Init = init
              Data = a.GetResult(RunArgs.Data, "mnist")
              Validation = a.GetResult(RunArgs.Validation, defaultValidation)
              Batch = a.GetResult(RunArgs.Batch, TrainOptions.defaults.BatchSize)
              LearningRate = a.TryGetResult RunArgs.Lr
              Repeats = a.GetResult(RunArgs.Repeats, 1)
              Constraints =
                { MaxParameters = a.TryGetResult RunArgs.Max_Params
                  MaxMacs = a.TryGetResult RunArgs.Max_Macs
                  MinField = a.TryGetResult RunArgs.Min_Field
                  Variance = a.TryGetResult RunArgs.Variance }
              Ranking = ranking
              Seed = a.GetResult(RunArgs.Seed, 1)
              TrialSeconds = a.TryGetResult RunArgs.Trial_Seconds
              Retrain = a.TryGetResult RunArgs.Retrain
              Plot = a.TryGetResult RunArgs.Plot }

// ---------------------------------------------------------------------------------------------------- space

let private readSpace (error: TextWriter) (file: string) (work: string -> Space.Space -> int) =
    match (try Ok (File.ReadAllText file) with :? IOException | :? UnauthorizedAccessException as e -> Error e.Message) with
    | Error message -> fail error $"{file}: {message}"
    | Ok text ->
        match Space.parse file text with
        | Error diagnostic -> report error diagnostic
        | Ok space -> work text space

let space (output: TextWriter) (error: TextWriter) (o: SpaceOptions) =
    readSpace error o.File (fun _ space ->
        output.WriteLine $"{o.File}: {space.Program.Name}, input {Shape.format space.Program.Input}"
        output.WriteLine $"size: {Space.formatSize (Space.size space)}"
        output.WriteLine $"choice points ({space.Points.Length}):"
        for point in space.Points do
            output.WriteLine $"  {point.Id}: {Space.describe point}"
        let rng = Rng o.Seed
        for i in 1 .. o.Samples do
            let sample = Space.sample rng space
            let facts = Constraints.analyse Constraints.none "autoinit" sample.Program
            let verdict = facts.Rejection |> Option.map (sprintf "  (does not check: %s)") |> Option.defaultValue ""
            output.WriteLine ""
            output.WriteLine $"sample {i}: fingerprint {sample.Fingerprint}, {count (int facts.Parameters)} parameters, {count (int facts.Macs)} MACs, receptive field {facts.Field} px{verdict}"
            output.WriteLine $"decisions {Space.decisionsToJson sample.Decisions}"
            output.Write sample.Text
        exitOk)

// ------------------------------------------------------------------------------------------------------ run

let private objective (o: RunOptions) : TrainObjective =
    { Data = o.Data; Init = o.Init; Validation = o.Validation; BatchSize = o.Batch; LearningRate = o.LearningRate; Repeats = o.Repeats }

/// The study: named by --storage's #NAME where given, else after the space's network.
let private study (o: RunOptions) (text: string) (space: Space.Space) : Study =
    Studies.define
        space
        text
        { Name = o.Storage |> Option.bind _.Study
          Strategy = o.Strategy
          Epochs = o.Epochs
          Constraints = o.Constraints
          Ranking = o.Ranking
          Objective = objective o
          Budget = o.Trials
          Seed = o.Seed
          TrialSeconds = o.TrialSeconds }

/// This executable and the arguments that start it again (`dotnet receptor.dll` when run through dotnet).
let self () =
    let host = Environment.ProcessPath
    if Path.GetFileNameWithoutExtension host = "dotnet" then host, [ Reflection.Assembly.GetEntryAssembly().Location ]
    else host, []

/// Where a worker of this process runs the study's trials: the trainer's choice for Train studies ("cpu",
/// "cuda"), nothing for the objectives that train nothing.
let deviceOf (study: Study) =
    match study.Objective with
    | Train _ -> Trainer.resolveDevice Device.Auto |> Result.toOption |> Option.map (fun d -> (string d.``type``).ToLowerInvariant())
    | Empty | Sleep _ -> None

let private alive (pid: int) =
    try
        use p = Process.GetProcessById pid
        not p.HasExited
    with :? ArgumentException | :? InvalidOperationException -> false

/// Re-queues at once the running trials of this machine's workers whose process is gone (whatever their last
/// heartbeat said); how many.
let reapDeadWorkers (store: TrialStore) =
    store.Workers()
    |> List.filter (fun w -> w.Host = Environment.MachineName && not (alive w.Pid))
    |> List.map _.Id
    |> store.ReapWorkers

/// `receptor search worker STORAGE ARGS` started as a child of this process (a PostgreSQL connection passed
/// in its environment, not on its command line).
let workerProcess (storage: Storage) (args: string list) (redirect: bool) =
    let file, prefix = self ()
    let argument, variable = Storage.forChild storage
    let info = ProcessStartInfo(file, UseShellExecute = false, RedirectStandardOutput = redirect, RedirectStandardError = redirect)
    for a in prefix @ [ "search"; "worker"; argument ] @ args do
        info.ArgumentList.Add a
    variable |> Option.iter (fun (name, value) -> info.Environment[name] <- value)
    info

let private startWorker (storage: Storage) =
    let p = Process.Start(workerProcess storage [] true)
    // The child's output is not shown (the display says what matters) but must be drained.
    p.OutputDataReceived.Add ignore
    p.ErrorDataReceived.Add ignore
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()
    p

let private best (trials: Trial list) =
    trials
    |> List.filter (fun t -> t.State = Finished)
    |> List.sortBy (fun t -> -(Strategies.fitness t), t.Candidate.Macs)
    |> List.tryHead

let private summary (trials: Trial list) (budget: int) (elapsed: TimeSpan) =
    let countOf state = trials |> List.filter (fun t -> t.State = state) |> List.length
    let ended = trials |> List.filter (fun t -> TrialState.isEnded t.State && t.State <> Rejected) |> List.length
    let running = countOf Running
    let left = budget - ended
    let eta =
        if ended = 0 || left <= 0 then "-"
        else
            let perTrial = elapsed.TotalSeconds / float ended
            TimeSpan.FromSeconds(perTrial * float left).ToString(@"h\:mm\:ss")
    let bestText =
        match best trials with
        | Some t -> $"best {percent (Strategies.fitness t)} (trial {t.Number}, {count (int t.Candidate.Macs)} MACs)"
        | None -> "best -"
    $"done {countOf Finished}/{budget}  running {running}  diverged {countOf Diverged}  failed {countOf Failed}  timed out {countOf TimedOut}  rejected {countOf Rejected}  {bestText}  ETA {eta}"

/// One line per trial as it ends, for logs and tests.
let private trialLine (t: Trial) =
    let score = if t.State = Finished then $"val {percent (Strategies.fitness t)}" else defaultArg t.Message ""
    let wall = t.WallSeconds |> Option.map (fun s -> $", {s:F1} s") |> Option.defaultValue ""
    $"trial {t.Number} {TrialState.name t.State}: {score} ({t.Candidate.Epochs} epoch(s), {count (int t.Candidate.Macs)} MACs, {count (int t.Candidate.Parameters)} parameters{wall})"

/// Watches the store until every trial has ended and the workers are done: a live status line on a terminal,
/// one line per ended trial otherwise.
let private watch (output: TextWriter) (store: TrialStore) (isDone: unit -> bool) =
    let clock = Stopwatch.StartNew()
    let shown = Collections.Generic.HashSet<int64>()
    let newlyEnded () =
        let trials = store.Trials()
        let fresh = trials |> List.filter (fun t -> TrialState.isEnded t.State && shown.Add t.Id)
        trials, fresh
    if not Console.IsOutputRedirected && Object.ReferenceEquals(output, Console.Out) then
        AnsiConsole.Status().Start("searching", fun context ->
            while not (isDone ()) do
                let trials, fresh = newlyEnded ()
                for t in fresh do
                    AnsiConsole.MarkupLine(Markup.Escape(trialLine t))
                context.Status <- Markup.Escape(summary trials store.Study.Budget clock.Elapsed)
                Thread.Sleep 500)
    else
        while not (isDone ()) do
            let _, fresh = newlyEnded ()
            for t in fresh do
                output.WriteLine(trialLine t)
            Thread.Sleep 250
    let trials, fresh = newlyEnded ()
    for t in fresh do
        output.WriteLine(trialLine t)
    output.WriteLine(summary trials store.Study.Budget clock.Elapsed)
    trials

/// Trains the best architecture as the study trained its trials, but on every training image and from the
/// study's seed, and scores it on the test images.
let private retrain (output: TextWriter) (objective: TrainObjective) seed (trial: Trial) epochs =
    Parser.parseProgram $"trial {trial.Number}" trial.Candidate.Architecture
    |> Result.mapError Diagnostic.format
    |> Result.bind (fun program ->
        Evaluation.load objective.Data program.Input
        |> Result.bind (fun splits ->
            InitSpec.parse objective.Init "exact" "normal" None
            |> Result.bind (fun spec ->
                let options = Evaluation.trainOptions objective spec epochs seed
                Trainer.start options program splits.Train
                |> Result.mapError Diagnostic.format
                |> Result.bind (fun network ->
                    use network = network
                    output.WriteLine $"retraining trial {trial.Number} for {epochs} epoch(s) on all {count splits.Train.Count} training images"
                    Trainer.train options None network splits.Train (function
                        | Trainer.EpochDone e -> output.WriteLine $"  {Receptor.Cli.Progress.line e.Epoch e.Epochs e.Loss e.Accuracy e.ImagesPerSecond}"
                        | _ -> ())
                    |> Result.bind (fun _ -> Trainer.evaluate network splits.Test)
                    |> Result.map (fun evaluation -> evaluation, splits.Test.Count)))))

/// The study's store: --storage, or NAME.study.db in the working folder.
let private storageFor (o: RunOptions) (study: Study) = o.Storage |> Option.defaultValue (Storage.sqlite $"{study.Name}.study.db")

/// `search create`: the study written to its store and nothing run, for workers started elsewhere (a cluster's
/// job array) to join with `search worker`.
let create (output: TextWriter) (error: TextWriter) (o: RunOptions) =
    readSpace error o.File (fun text space ->
        let study = study o text space
        match TrialStore.Create(storageFor o study, study) with
        | Error message -> fail error message
        | Ok store ->
            use store = store
            output.WriteLine $"study '{study.Name}' in {store.Location}: {Strategies.name o.Strategy}, {o.Trials} trials of {o.Epochs} epoch(s); join it with: receptor search worker STORE#{study.Name}"
            exitOk)

let run (output: TextWriter) (error: TextWriter) (o: RunOptions) =
    readSpace error o.File (fun text space ->
        let study = study o text space
        let storage = storageFor o study
        let path = Storage.describe storage
        match TrialStore.Create(storage, study) with
        | Error message -> fail error message
        | Ok store ->
            use store = store
            match Studies.prepare store error.WriteLine with
            | Error message -> fail error message
            | Ok (propose, evaluate) ->
                output.WriteLine $"study '{study.Name}' in {path}: {Strategies.name o.Strategy}, {o.Trials} trials of {o.Epochs} epoch(s), {o.Workers} worker(s), init {o.Init}, data {o.Data} ({o.Validation} held out)"
                output.WriteLine $"space: {Space.formatSize (Space.size space)}, {space.Points.Length} choice points"
                // Run again after a crash, the study goes on: the dead run's trials are re-queued at once.
                match reapDeadWorkers store with
                | 0 -> ()
                | orphans -> output.WriteLine $"re-queued {orphans} trial(s) of a run that stopped"
                o.Ranking |> Option.iter (fun r ->
                    output.WriteLine $"proposals: the best by {ZeroCost.name r.Proxy} of {r.Pool} fresh candidates (random draws only)")
                let children = List.init (o.Workers - 1) (fun _ -> startWorker store.Storage)
                let workerStore = TrialStore.Open store.Storage |> Result.defaultWith failwith
                let worker =
                    Tasks.Task.Run(fun () ->
                        use workerStore = workerStore
                        Worker.run workerStore { Worker.defaults () with Device = deviceOf store.Study } propose evaluate)
                let trials = watch output store (fun () -> worker.IsCompleted && children |> List.forall (fun c -> c.HasExited))
                for c in children do c.Dispose()
                worker.Wait()
                output.WriteLine ""
                output.WriteLine "leaderboard:"
                for i, t in store.Leaderboard 5 |> List.indexed do
                    output.WriteLine $"  {i + 1}. trial {t.Number}: val {percent (Strategies.fitness t)}, {count (int t.Candidate.Macs)} MACs, {count (int t.Candidate.Parameters)} parameters, fingerprint {t.Candidate.Fingerprint}"
                o.Plot |> Option.iter (fun plot ->
                    let points = trials |> List.filter (fun t -> t.State = Finished) |> List.map (fun t -> t.Number, t.Candidate.Macs, Strategies.fitness t)
                    match Receptor.Core.Reporting.Figures.pareto plot $"{study.Name}: validation accuracy against MACs" points with
                    | Ok written -> output.WriteLine $"wrote {written}"
                    | Error d -> report error d |> ignore)
                match best trials with
                | None -> fail error "no trial finished"
                | Some winner ->
                    output.WriteLine ""
                    output.WriteLine $"best: trial {winner.Number}, val {percent (Strategies.fitness winner)}, {count (int winner.Candidate.Macs)} MACs"
                    output.Write winner.Candidate.Architecture
                    match o.Retrain with
                    | None -> exitOk
                    | Some epochs ->
                        match retrain output (objective o) o.Seed winner epochs with
                        | Ok (evaluation, images) ->
                            output.WriteLine $"test accuracy {percent evaluation.Accuracy} on {count images} test images (loss {evaluation.Loss:F4})"
                            exitOk
                        | Error message -> fail error message)
