/// The compiler: a checked tree becomes one TorchSharp module whose parameter names follow layer paths
/// and whose forward pass is one fold over the tree.
namespace Receptor.Core.Torch

open System.Collections.Generic
open TorchSharp
open Receptor.Dsl

/// Called with each node's path and output during an observed forward pass.
type Observer = string -> torch.Tensor -> unit

/// Memory layouts for the forward pass.
module Layout =
    /// The same tensor (same shape, same values) stored channels-last: NHWC strides, as PyTorch's
    /// `contiguous(memory_format=torch.channels_last)`. No copy when it already is.
    let channelsLast (x: torch.Tensor) = x.permute(0L, 2L, 3L, 1L).contiguous().permute (0L, 3L, 1L, 2L)

    /// Whether a forward pass on this input runs channels-last: 4-D inputs on the CPU, where oneDNN's
    /// native layout is channels-last and PyTorch's pooling and batch-norm kernels vectorise over channels.
    let prefersChannelsLast (x: torch.Tensor) = x.dim () = 4L && x.device_type = DeviceType.CPU

type Network private (name: string, tree: Checked, input: Shape) as this =
    inherit torch.nn.Module<torch.Tensor, torch.Tensor>(name)

    let containers = Dictionary<string, Container>()

    /// The container at a path prefix, created and registered on first use.
    let rec containerAt (prefix: string) : torch.nn.Module =
        if prefix = "" then this :> torch.nn.Module
        else
            match containers.TryGetValue prefix with
            | true, c -> c :> torch.nn.Module
            | _ ->
                let cut = prefix.LastIndexOf '/'
                let parent, segment = (if cut < 0 then "" else prefix.Substring(0, cut)), prefix.Substring(cut + 1)
                let c = new Container(segment)
                containerAt(parent).register_module (segment, c)
                containers[prefix] <- c
                c :> torch.nn.Module

    let register (path: string) (kindName: string) (m: torch.nn.Module) =
        let cut = path.LastIndexOf '/'
        let parent = if cut < 0 then "" else path.Substring(0, cut)
        let segment = if path = "" then kindName else path.Substring(cut + 1)
        containerAt(parent).register_module (segment, m)

    /// Learnable scalars on residual bodies, by the residual's path (see ResidualGain).
    let gains = Dictionary<string, Modules.Parameter>()

    let merge (m: CheckedMerge) (outputs: torch.Tensor list) =
        match m.Merge with
        | Add ->
            let weighted = List.zip m.Weights outputs |> List.map (fun (w, t) -> if w = 1.0 then t else t * w)
            match gains.TryGetValue m.Path, weighted with
            | (true, gain), [ shortcut; body ] -> shortcut + body * gain
            | _ -> weighted |> List.reduce (+)
        | Concat -> torch.cat (Array.ofList outputs, 1L)
        | Multiply -> outputs |> List.reduce (*)
        | Mean -> (outputs |> List.reduce (+)) / float outputs.Length
        | Max -> outputs |> List.reduce (fun a b -> torch.maximum (a, b))

    /// Builds the forward function of a node, registering each layer's module on the way.
    let rec build (node: Checked) : Result<Observer -> torch.Tensor -> torch.Tensor, Diagnostic> =
        match node with
        | CheckedOp layer ->
            Receptor.Core.Kinds.Registry.tryPhases layer
            |> Result.mapError (Diagnostic.atPath layer.Path)
            |> Result.map (fun phases ->
                let compiled = LayerModules.scoped phases.Module layer
                register layer.Path layer.Kind.Name compiled.Module
                fun observe x ->
                    let y = compiled.Forward x
                    observe layer.Path y
                    y)
        | CheckedSeq nodes ->
            traverse nodes
            |> Result.map (fun steps -> fun observe x -> steps |> List.fold (fun acc step -> step observe acc) x)
        | CheckedBranches m ->
            traverse m.Branches
            |> Result.map (fun branches ->
                fun observe x ->
                    let y = merge m (branches |> List.map (fun branch -> branch observe x))
                    observe m.Path y
                    y)

    and traverse nodes =
        let folder state node = state |> Result.bind (fun acc -> build node |> Result.map (fun f -> f :: acc))
        nodes |> List.fold folder (Ok []) |> Result.map List.rev

    let body = build tree

    let ignoreAll: Observer = fun _ _ -> ()

    member _.Input = input
    member _.Tree = tree

    /// The learnable scalar α of the residual at `path` (an `add` of a shortcut and a body), which then
    /// computes shortcut(x) + α·s·body(x); created at 1 on first request and registered as `<path>.alpha`.
    /// The language's `scale=` is a constant, so SkipInit (De & Smith 2020), which starts α at 0, adds it
    /// here. The analysis does not count it among the parameters.
    member _.ResidualGain(path: string) =
        match gains.TryGetValue path with
        | true, gain -> gain
        | _ ->
            let gain = new Modules.Parameter (torch.ones [||])
            containerAt(path).register_parameter ("alpha", gain)
            gains[path] <- gain
            gain

    /// Run 4-D inputs on the CPU in channels-last layout (default true). Only the layout of the
    /// intermediate tensors changes: values, shapes, parameters and gradients are the same, and a 4-D
    /// output is handed back contiguous. A training step of bench/smallcnn.rcp takes ~15% less CPU time
    /// this way (BENCHMARKS.md, "Training step"); set false to run everything in NCHW.
    member val ChannelsLast = true with get, set

    override this.forward x =
        match body with
        | Ok run when this.ChannelsLast && Layout.prefersChannelsLast x ->
            let y = run ignoreAll (Layout.channelsLast x)
            if y.dim () = 4L && not (y.is_contiguous ()) then y.contiguous () else y
        | Ok run -> run ignoreAll x
        | Error d -> invalidOp (Diagnostic.format d)

    /// A forward pass that reports every node's output to the observer. It runs in the input's own layout,
    /// so observers see the tensors as the layers produce them from a plain NCHW input.
    member _.Observe(x: torch.Tensor, observe: Observer) =
        match body with
        | Ok run -> run observe x
        | Error d -> invalidOp (Diagnostic.format d)

    /// The sum of the penalties of the modules that carry one (ILossTerm), in module order; a zero scalar
    /// when none does.
    member this.ComplexityPenalty() : torch.Tensor =
        let terms =
            [ for struct (_, m) in this.named_modules () do
                  match box m with
                  | :? ILossTerm as term -> yield term.Penalty ()
                  | _ -> () ]
        match terms with
        | [] -> torch.zeros ([||])
        | _ -> torch.stack(terms).sum ()

    /// Compiles a checked tree, or says which layer has no TorchSharp rule.
    static member Compile(name: string, tree: Checked, input: Shape) : Result<Network, Diagnostic> =
        let network = new Network(name, tree, input)
        match network.Body with
        | Ok _ -> Ok network
        | Error d ->
            network.Dispose()
            Error d

    member private _.Body = body

module Network =
    /// Parses nothing: compiles an expression that needs no blocks.
    let ofNode name input node =
        Shapes.checkNode input node |> Result.bind (fun tree -> Network.Compile(name, tree, input))

    let ofProgram (program: Program) =
        Shapes.checkProgram program |> Result.bind (fun tree -> Network.Compile(program.Name, tree, program.Input))

    /// Learnable parameters actually held by the module.
    let parameterCount (network: Network) =
        network.parameters () |> Seq.sumBy (fun p -> p.numel ())
