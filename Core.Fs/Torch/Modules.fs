/// Small TorchSharp modules the compiler needs beyond torch.nn: a function as a module, a container that
/// only names its children, and activation expressions with learnable scalars.
namespace Receptor.Core.Torch

open TorchSharp
open Receptor.Dsl

/// A layer's module, registered at its path, and how the network calls it.
type CompiledLayer = { Module: torch.nn.Module; Forward: torch.Tensor -> torch.Tensor }

/// A stateless layer given by its forward function.
type Lambda(name: string, forward: torch.Tensor -> torch.Tensor) =
    inherit torch.nn.Module<torch.Tensor, torch.Tensor>(name)
    override _.forward input = forward input

/// A module whose own parameters carry a cost that training may minimise beside the loss on the data: a
/// differentiable scalar (DynOPool: r_h·r_w, the area ratio of its output). The trainer adds its λ times
/// the network's sum of these terms (Network.ComplexityPenalty) to the loss it minimises, without naming
/// the layers that contribute.
type ILossTerm =
    abstract Penalty: unit -> torch.Tensor

/// Holds children so that parameter names follow layer paths (`layer1.1.residual.body.conv1.weight`).
type Container(name: string) =
    inherit torch.nn.Module(name)
    member this.Add(segment: string, child: torch.nn.Module) = this.register_module(segment, child)

/// Evaluates activation expressions on tensors. The language is total on the reals: sqrt and log take
/// |x| (log adds ε) and division adds ε to the denominator, as in Ramachandran et al.
module ExpressionEval =
    let epsilon = 1e-7

    let rec evaluate (scalars: string -> torch.Tensor) (x: torch.Tensor) expression : torch.Tensor =
        let recurse = evaluate scalars x
        match expression with
        | X -> x
        | Const c -> torch.full_like (x, Scalar.op_Implicit c)
        | Scalar name -> scalars name * torch.ones_like x
        | Unary (fn, a) ->
            let a = recurse a
            match fn with
            | Neg -> -a
            | Abs -> a.abs ()
            | Square -> a * a
            | Cube -> a * a * a
            | Sqrt -> a.abs().sqrt ()
            | Exp -> a.exp ()
            | Log -> (a.abs () + epsilon).log ()
            | Sin -> a.sin ()
            | Cos -> a.cos ()
            | Sinh -> a.sinh ()
            | Cosh -> a.cosh ()
            | Tanh -> a.tanh ()
            | Asinh -> a.asinh ()
            | Atan -> a.atan ()
            | Sinc -> torch.sinc (a / System.Math.PI)
            | Relu -> torch.nn.functional.relu a
            | Sigmoid -> a.sigmoid ()
            | Softplus -> torch.nn.functional.softplus a
            | Gauss -> (-(a * a)).exp ()
            | Erf -> a.erf ()
        | Binary (fn, a, b) ->
            let a, b = recurse a, recurse b
            match fn with
            | BinaryFn.Add -> a + b
            | Sub -> a - b
            | Mul -> a * b
            | Div -> a / (b + epsilon)
            | BinaryFn.Max -> torch.maximum (a, b)
            | Min -> torch.minimum (a, b)

/// `act(EXPR, s=init, …)`: each named scalar is a learnable parameter.
type ExpressionActivation(name: string, expression: ActExpr, scalars: (string * float) list) as this =
    inherit torch.nn.Module<torch.Tensor, torch.Tensor>(name)
    let scalarParameters =
        scalars
        |> List.map (fun (scalarName, init) ->
            let p = torch.nn.Parameter (torch.tensor (init, dtype = torch.ScalarType.Float32))
            this.register_parameter (scalarName, p)
            scalarName, p)
        |> dict
    override _.forward input =
        ExpressionEval.evaluate (fun n -> scalarParameters[n] :> torch.Tensor) input expression
