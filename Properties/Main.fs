module Receptor.Properties.Main

open Expecto

let all =
    testList "receptor" [
        LanguageTests.tests
        ZooTests.tests
        DataTests.tests
        TorchSmokeTests.tests
        CompileTests.tests
        ExecutionTests.tests
        HostTests.tests
        SignalTests.tests
        FiniteWidthTests.tests
        FieldSignalTests.tests
        InitPolicyTests.tests
        GradInitTests.tests
        FieldTests.tests
        TrainingTests.tests
        StartTests.tests
        LayerTests.tests
        DendriticTests.tests
        NonlocalTests.tests
        RewriteTests.tests
        FieldStudyTests.tests
        DynOPoolTests.tests
        ShuffleTests.tests
        SpaceTests.tests
        StrategyTests.tests
        SearchTests.tests
        ZeroCostTests.tests
        DocumentationTests.tests
        CliTests.tests
        StoreTests.tests
    ]

/// `regenerate-docs` rewrites the docs' generated parts (scripts/gen-docs.sh); anything else runs the tests.
[<EntryPoint>]
let main argv =
    match argv with
    | [| "regenerate-docs" |] -> GeneratedDocs.regenerate ()
    | _ ->
        Receptor.Core.Torch.NativeRuntime.configure ()
        runTestsWithCLIArgs [] argv all
