# Seed 003's calculator client, as the article prints it: /Calculator/SquareRoot on
# Number{float value = 1} (proto/seeds/calculator.proto, no package line). It prints
# 4.0, the square root of 16.
import grpc
import calculator_pb2
import calculator_pb2_grpc


def run():
    channel = grpc.insecure_channel('localhost:50051')
    stub = calculator_pb2_grpc.CalculatorStub(channel)
    number = calculator_pb2.Number(value=16)
    response = stub.SquareRoot(number)
    print(response.value)


if __name__ == '__main__':
    run()
