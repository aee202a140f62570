/// Where the tests find the repository's files.
module Receptor.Properties.Repository

open System
open System.IO
open Expecto
open Receptor.Dsl

/// The repository root: the first folder above the test binary that holds Dsl.sln.
let root =
    lazy (
        let rec up (dir: DirectoryInfo) =
            if isNull dir then failwithf "no folder above %s holds Dsl.sln" AppContext.BaseDirectory
            elif File.Exists (Path.Combine (dir.FullName, "Dsl.sln")) then dir.FullName
            else up dir.Parent
        up (DirectoryInfo AppContext.BaseDirectory))

let zooFolder () = Path.Combine (root.Value, "Examples", "zoo")

/// A zoo file's path and text.
let readZoo file =
    let path = Path.Combine (zooFolder (), file)
    path, File.ReadAllText path

/// The value of a result, or a test failure with the diagnostic.
let unwrap result =
    match result with
    | Ok value -> value
    | Error diagnostic -> failtest (Diagnostic.format diagnostic)

let private rcpFiles () =
    Directory.GetFiles (Path.Combine (root.Value, "Examples"), "*.rcp", SearchOption.AllDirectories)
    |> Array.map (fun path -> Path.GetRelativePath (root.Value, path))
    |> Array.sort
    |> List.ofArray

let private isSpace (path: string) = path.StartsWith (Path.Combine ("Examples", "spaces"))

/// Every model under Examples/ (search spaces, in Examples/spaces/, are not models), as paths relative to the
/// repository root.
let examples () = rcpFiles () |> List.filter (isSpace >> not)

/// Every search space under Examples/spaces/, as paths relative to the repository root.
let spaces () = rcpFiles () |> List.filter isSpace

/// A model file of the repository, parsed and checked: its input shape and its checked tree.
let checkedProgram (file: string) =
    let program = Parser.parseProgram file (File.ReadAllText (Path.Combine (root.Value, file))) |> unwrap
    {| Input = program.Input; Tree = Shapes.checkProgram program |> unwrap |}
