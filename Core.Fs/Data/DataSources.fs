/// The data sources behind every `--data` option: each one's name, what it is and what it provides. Every
/// command reads `--data` through `parse`, so that a name means the same images wherever it is given.
module Receptor.Core.Data.DataSources

open System
open Receptor.Dsl

/// Why a source gave no images.
type Failure =
    /// The environment failed: the data could not be fetched or read.
    | Unavailable of string
    /// The source cannot serve a network of this input.
    | Unsuitable of string

/// Labelled training and test images, as a source gave them.
type Splits =
    { Train: Dataset
      Test: Dataset
      Title: string
      /// Where the images were read from; None for generated ones.
      Folder: string option }

/// Labelled images: the shape they take for a network's input, known before anything is read or made, and
/// the loader.
type Images =
    { ShapeFor: Shape -> Result<Shape, string>
      Load: Shape -> Result<Splits, Failure> }

type Provides =
    /// Standard normal noise at the network's input shape: inputs without labels.
    | Noise
    /// Labelled training and test images.
    | Labelled of Images

type Source =
    { Name: string
      /// Other names it answers to: spellings that commands accepted before the registry.
      Aliases: string list
      Description: string
      Provides: Provides }

/// What a source provides, in a word or two.
let provides source =
    match source.Provides with
    | Noise -> "noise"
    | Labelled _ -> "labelled images"

/// A source's labelled images, for commands that can only use those.
let labelled source =
    match source.Provides with
    | Labelled images -> Some images
    | Noise -> None

/// The side of the square one-channel images a generated set makes for a network: its larger side.
let private sideFor name minimum (input: Shape) =
    match input with
    | Spatial (_, h, w) when max h w >= minimum -> Ok (max h w)
    | Spatial (_, h, w) -> Error $"{name} needs an input of at least {minimum}×{minimum}, the network takes {h}×{w}"
    | Flat _ -> Error $"{name} makes images; the network takes a flat input"

/// A seeded generator: `make seed count side` gives one split, the training split seed 1 and the test split 2.
let private generated name minimum title trainCount testCount (make: int -> int -> int -> Dataset) =
    let side = sideFor name minimum
    { ShapeFor = side >> Result.map (fun s -> Spatial (1, s, s))
      Load =
        side
        >> Result.map (fun s -> { Train = make 1 trainCount s; Test = make 2 testCount s; Title = title; Folder = None })
        >> Result.mapError Unsuitable }

let gaussian =
    { Name = "gaussian"
      Aliases = []
      Description = "standard normal noise at the network's input shape"
      Provides = Noise }

let mnist =
    { Name = "mnist"
      Aliases = []
      Description = "MNIST digits, 1×28×28: 8,000 training and 2,000 test images, fetched once (receptor data fetch mnist)"
      Provides =
        Labelled
            { ShapeFor = fun _ -> Ok (Spatial (1, 28, 28))
              Load =
                fun _ ->
                    let dir = Mnist.defaultDirectory ()
                    Mnist.ensure dir
                    |> Result.bind (fun _ -> Mnist.load dir)
                    |> Result.map (fun (train, test) -> { Train = train; Test = test; Title = "MNIST"; Folder = Some dir })
                    |> Result.mapError Unavailable } }

let syntheticBlobs =
    { Name = "synthetic-blobs"
      Aliases = [ "synthetic" ]
      Description = "Gaussian blobs in 4 classes at the network's input size (at least 4×4): 2,000 training, 500 test images, seeded"
      Provides = Labelled (generated "synthetic-blobs" 4 "synthetic blobs" 2000 500 (fun seed n side -> Synthetic.blobs seed n 4 side)) }

let farPair =
    { Name = "far-pair"
      Aliases = []
      Description =
        "two marks near opposite borders, same shape or not (2 classes), at the network's input size (at least 16×16): 4,000 training, 1,000 test images, seeded"
      Provides = Labelled (generated "far-pair" 16 "far pairs" 4000 1000 Synthetic.farPair) }

let all = [ gaussian; mnist; syntheticBlobs; farPair ]

/// The names of the sources a command accepts (`accepts` gives what it takes of one), as help text lists
/// them: `a, b or c`.
let names (accepts: Source -> 'a option) =
    match all |> List.filter (accepts >> Option.isSome) |> List.map (fun s -> s.Name) |> List.rev with
    | [] -> ""
    | [ only ] -> only
    | last :: rest -> String.Join(", ", List.rev rest) + " or " + last

/// What a command takes of the source that a name (or alias) given to `option` names, among the sources it
/// accepts; `need` says in words what such a command needs, for a source it cannot use. An unknown name gets
/// the nearest accepted one as a hint.
let parse (option: string) (accepts: Source -> 'a option) (need: string) (name: string) : Result<'a, string> =
    let wanted = name.ToLowerInvariant()
    match all |> List.tryFind (fun s -> s.Name = wanted || List.contains wanted s.Aliases) with
    | Some source ->
        match accepts source with
        | Some taken -> Ok taken
        | None -> Error $"{option} {source.Name} provides {provides source}; this command needs {need}: {names accepts}"
    | None ->
        // Aliases count as spellings of their source, so the hint is always a source's own name.
        let spellings =
            all
            |> List.filter (accepts >> Option.isSome)
            |> List.collect (fun s -> (s.Name, s.Name) :: (s.Aliases |> List.map (fun a -> a, s.Name)))
        match Registry.nearest (List.map fst spellings) wanted with
        | Some near -> Error $"{option}: unknown data source '{name}'; did you mean '{List.find (fst >> (=) near) spellings |> snd}'?"
        | None -> Error $"{option}: unknown data source '{name}'; expected {names accepts}"
