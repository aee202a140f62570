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
        FieldTests.tests
    ]

[<EntryPoint>]
let main argv = runTestsWithCLIArgs [] argv all
